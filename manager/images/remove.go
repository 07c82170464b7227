package images

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// DeleteItem is one line of what rmi and prune did, as Docker reports it:
// a name untagged (familiar form) or an image or layer deleted (a digest).
type DeleteItem struct {
	Untagged string `json:"Untagged,omitempty"`
	Deleted  string `json:"Deleted,omitempty"`
}

// Remove is `docker rmi` by Docker's rules. Given a name, it untags that
// name (and the repo digests of its repository when it was the
// repository's last tag) and deletes the image only when no name is left.
// Given an ID, it deletes the image, untagging it first when it has a
// single name or force is set; an image with several names is "referenced
// in multiple repositories" and needs force. An image with child images
// cannot be deleted, nor can one a running container uses; a stopped
// container's needs force. Unless noPrune, the untagged parents the
// deletion leaves childless go too, up to a named one, one with other
// children or one a container uses. The layers that no other image shares
// are removed and reported, and the blobs collected.
func (s *Service) Remove(ref string, force, noPrune bool) ([]DeleteItem, error) {
	ctx := context.Background()
	var d deletion
	s.mu.Lock()
	err := s.db.Update(ctx, func(tx *metadata.Tx) error {
		d = deletion{}
		rec, named, err := resolveRecord(tx, ref)
		if err != nil {
			return err
		}
		tags, digests, err := namesOf(tx, rec.ID)
		if err != nil {
			return err
		}
		refs := append(tags, digests...)

		if named == nil {
			// By ID: a single name goes with the image, once nothing
			// but that name stands in the way.
			if singleReference(refs) {
				mask := conflictHard
				if !force {
					mask |= conflictSoft &^ conflictRefs
				}
				c, err := s.checkConflict(tx, rec.ID, mask)
				if err != nil {
					return err
				}
				if c != nil {
					return c.err()
				}
				for _, r := range refs {
					if err := untag(tx, r); err != nil {
						return err
					}
					d.items = append(d.items, DeleteItem{Untagged: familiar(r)})
				}
			}
			return s.deleteImage(tx, rec, force, !noPrune, false, &d)
		}

		name := named.String()
		if named.Digest != "" {
			name = named.WithDigest(named.Digest).String()
		}
		if container, _ := s.inUse(rec.ID); container != "" && !force && singleReference(refs) {
			// Untagged, the image would be left dangling under its
			// container: the user has to mean it.
			return errdefs.Conflict("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, shortContainer(container), ShortID(rec.ID))
		}
		if err := untag(tx, name); err != nil {
			return err
		}
		d.items = append(d.items, DeleteItem{Untagged: familiar(name)})
		refs = without(refs, name)
		// The repository's last tag gone: its repo digests go too.
		if !isDigestName(name) && !hasTagIn(refs, repoName(name)) {
			var rest []string
			for _, r := range refs {
				if isDigestName(r) && repoName(r) == repoName(name) {
					if err := untag(tx, r); err != nil {
						return err
					}
					d.items = append(d.items, DeleteItem{Untagged: familiar(r)})
					continue
				}
				rest = append(rest, r)
			}
			refs = rest
		}
		if len(refs) > 0 {
			return nil // other names keep the image
		}
		// Quietly: an image that children or a container keep stays,
		// untagged, as Docker leaves it.
		return s.deleteImage(tx, rec, force, !noPrune, true, &d)
	})
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	items, _ := s.collectAfterDelete(ctx, d)
	return items, nil
}

// deletion is what one rmi or prune did in its transaction: the lines to
// report and the image records deleted, in order.
type deletion struct {
	items   []DeleteItem
	deleted []*metadata.Image
}

// The conflicts that stop a deletion, as Docker sorts them: hard ones
// cannot be forced, soft ones can.
const (
	conflictChild = 1 << iota
	conflictRunning
	conflictRefs
	conflictStopped

	conflictHard = conflictChild | conflictRunning
	conflictSoft = conflictRefs | conflictStopped
)

// deleteConflict is why an image cannot be deleted.
type deleteConflict struct {
	id   digest.Digest
	hard bool
	used bool // by a container
	msg  string
}

// err is the conflict in Docker's words; nil for no conflict.
func (c *deleteConflict) err() error {
	if c == nil {
		return nil
	}
	how := "must be forced"
	if c.hard {
		how = "cannot be forced"
	}
	return errdefs.Conflict("conflict: unable to delete %s (%s) - %s", ShortID(c.id), how, c.msg)
}

// checkConflict finds the first conflict in mask that stops deleting id.
func (s *Service) checkConflict(tx *metadata.Tx, id digest.Digest, mask int) (*deleteConflict, error) {
	if mask&conflictChild != 0 {
		kids, err := tx.ChildrenOf(id)
		if err != nil {
			return nil, err
		}
		if len(kids) > 0 {
			return &deleteConflict{id: id, hard: true, msg: "image has dependent child images"}, nil
		}
	}
	container, running := s.inUse(id)
	if mask&conflictRunning != 0 && container != "" && running {
		return &deleteConflict{id: id, hard: true, used: true, msg: "image is being used by running container " + shortContainer(container)}, nil
	}
	if mask&conflictRefs != 0 {
		tags, digests, err := namesOf(tx, id)
		if err != nil {
			return nil, err
		}
		if len(tags)+len(digests) > 0 {
			return &deleteConflict{id: id, msg: "image is referenced in multiple repositories"}, nil
		}
	}
	if mask&conflictStopped != 0 && container != "" && !running {
		return &deleteConflict{id: id, used: true, msg: "image is being used by stopped container " + shortContainer(container)}, nil
	}
	return nil, nil
}

// deleteImage deletes rec with its names unless a conflict stops it (soft
// ones only without force), then, with prune, its parent by the same rule,
// unforced and quiet. Quiet, a conflict ends the deletion without error
// unless the image is dangling and no container uses it, as Docker's
// imageDeleteHelper does.
func (s *Service) deleteImage(tx *metadata.Tx, rec *metadata.Image, force, prune, quiet bool, d *deletion) error {
	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	c, err := s.checkConflict(tx, rec.ID, mask)
	if err != nil {
		return err
	}
	if c != nil {
		if quiet {
			dangling, err := isDangling(tx, rec.ID)
			if err != nil {
				return err
			}
			if !dangling || c.used {
				return nil
			}
		}
		return c.err()
	}
	tags, digests, err := namesOf(tx, rec.ID)
	if err != nil {
		return err
	}
	more, err := deleteRecord(tx, rec, append(tags, digests...))
	if err != nil {
		return err
	}
	d.items = append(d.items, more...)
	d.deleted = append(d.deleted, rec)
	if !prune || rec.Parent == "" {
		return nil
	}
	parent, err := tx.GetImage(rec.Parent)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.deleteImage(tx, parent, false, true, true, d)
}

// isDangling: no names and no child images.
func isDangling(tx *metadata.Tx, id digest.Digest) (bool, error) {
	tags, digests, err := namesOf(tx, id)
	if err != nil {
		return false, err
	}
	if len(tags)+len(digests) > 0 {
		return false, nil
	}
	kids, err := tx.ChildrenOf(id)
	return len(kids) == 0, err
}

// deleteRecord untags every name left and deletes the image record.
func deleteRecord(tx *metadata.Tx, rec *metadata.Image, refs []string) ([]DeleteItem, error) {
	var items []DeleteItem
	for _, r := range refs {
		if err := untag(tx, r); err != nil {
			return nil, err
		}
		items = append(items, DeleteItem{Untagged: familiar(r)})
	}
	if err := tx.DeleteImage(rec.ID); err != nil {
		return nil, err
	}
	return append(items, DeleteItem{Deleted: rec.ID.String()}), nil
}

// collectAfterDelete runs GC and returns d's lines with the layers GC
// removed after the image that held them, top layer first, as Docker
// lists them, and the bytes freed.
func (s *Service) collectAfterDelete(ctx context.Context, d deletion) ([]DeleteItem, int64) {
	if len(d.deleted) == 0 {
		return d.items, 0
	}
	// The images are gone whatever GC manages; what it cannot remove now
	// the next collection retries, so its error is not the caller's.
	res, _ := s.runGC(ctx)
	// A layer goes with the last deleted image that held it (a child's
	// deletion leaves its parent's layers to the parent), as Docker's
	// reference counts release it.
	layersOf := map[string][]DeleteItem{}
	seen := map[digest.Digest]bool{}
	for j := len(d.deleted) - 1; j >= 0; j-- {
		rec := d.deleted[j]
		for i := len(rec.Layers) - 1; i >= 0; i-- {
			c := digest.Digest(rec.Layers[i])
			if res.layers[c] && !seen[c] {
				seen[c] = true
				layersOf[rec.ID.String()] = append(layersOf[rec.ID.String()], DeleteItem{Deleted: c.String()})
			}
		}
	}
	out := make([]DeleteItem, 0, len(d.items)+len(seen))
	for _, it := range d.items {
		out = append(out, it)
		if it.Deleted != "" {
			out = append(out, layersOf[it.Deleted]...)
			delete(layersOf, it.Deleted)
		}
	}
	return out, res.reclaimed
}

func untag(tx *metadata.Tx, name string) error {
	if isDigestName(name) {
		return tx.DeleteRepoDigest(name)
	}
	return tx.DeleteTag(name)
}

// singleReference is Docker's test for "delete by ID may untag": one tag
// at most, and all names in one repository.
func singleReference(refs []string) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	single := ""
	repos := map[string]bool{}
	for _, r := range refs {
		switch {
		case isDigestName(r):
			repos[repoName(r)] = true
		case single == "":
			single = r
		default:
			return false
		}
	}
	if single == "" {
		single = refs[0]
	}
	return len(repos) == 1 && repos[repoName(single)]
}

func hasTagIn(refs []string, repo string) bool {
	for _, r := range refs {
		if !isDigestName(r) && repoName(r) == repo {
			return true
		}
	}
	return false
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func (s *Service) inUse(id digest.Digest) (string, bool) {
	if s.InUse == nil {
		return "", false
	}
	return s.InUse(id)
}

func shortContainer(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Prune removes unused images as `docker image prune` does: with
// dangling, the images without a tag that are no image's parent;
// otherwise every image no container uses, untagging it first
// (intermediate images are left to their children). Each deletion takes
// the untagged parents it leaves childless along, so a dangling build's
// steps go in one pass while a tagged image's stay. f narrows the choice
// (Until, Label, LabelNot). It returns what it did and the bytes freed
// (layers and blobs).
func (s *Service) Prune(dangling bool, f ListFilter) ([]DeleteItem, int64, error) {
	ctx := context.Background()
	until, err := parseUntil(f.Until, time.Now())
	if err != nil {
		return nil, 0, err
	}
	var d deletion
	s.mu.Lock()
	err = s.db.Update(ctx, func(tx *metadata.Tx) error {
		d = deletion{}
		recs, err := tx.ListImages()
		if err != nil {
			return err
		}
		tags, digests, err := allNames(tx)
		if err != nil {
			return err
		}
		hasChild := map[digest.Digest]bool{}
		for _, rec := range recs {
			hasChild[rec.Parent] = true
		}
		var top []*metadata.Image
		for _, rec := range recs {
			named := len(tags[rec.ID])+len(digests[rec.ID]) > 0
			if hasChild[rec.ID] && (dangling || !named) {
				continue
			}
			if dangling && len(tags[rec.ID]) > 0 {
				continue
			}
			if !until.IsZero() && rec.Created.After(until) {
				continue
			}
			if len(f.Label)+len(f.LabelNot) > 0 {
				img, err := fromRecord(rec, nil, nil)
				if err != nil {
					return err
				}
				if !matchLabels(img.Config.Config.Labels, f.Label, f.LabelNot) {
					continue
				}
			}
			if c, _ := s.inUse(rec.ID); c != "" {
				continue
			}
			top = append(top, rec)
		}
		for _, rec := range top {
			refs := append(append([]string{}, tags[rec.ID]...), digests[rec.ID]...)
			for _, r := range refs {
				if err := untag(tx, r); err != nil {
					return err
				}
				d.items = append(d.items, DeleteItem{Untagged: familiar(r)})
			}
			// Untagged by name, an image is deleted quietly (children
			// may keep it); by ID, a conflict only skips it.
			err := s.deleteImage(tx, rec, false, true, len(refs) > 0, &d)
			if err != nil && !errdefs.IsConflict(err) {
				return err
			}
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	if len(d.items) == 0 {
		return []DeleteItem{}, 0, nil
	}
	items, reclaimed := s.collectAfterDelete(ctx, d)
	return items, reclaimed, nil
}
