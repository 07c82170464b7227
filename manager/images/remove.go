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
// in multiple repositories" and needs force. An image a container uses is
// refused (a running container's even with force). The image's layers that
// no other image shares are removed and reported, and its blobs collected.
// noPrune is accepted for the API; images have no untagged parents to
// prune until builds make them.
func (s *Service) Remove(ref string, force, noPrune bool) ([]DeleteItem, error) {
	ctx := context.Background()
	var items []DeleteItem
	var deleted *metadata.Image
	s.mu.Lock()
	err := s.db.Update(ctx, func(tx *metadata.Tx) error {
		items, deleted = nil, nil
		rec, named, err := resolveRecord(tx, ref)
		if err != nil {
			return err
		}
		tags, digests, err := namesOf(tx, rec.ID)
		if err != nil {
			return err
		}
		refs := append(tags, digests...)
		container, running := s.inUse(rec.ID)

		if named != nil {
			name := named.String()
			if named.Digest != "" {
				name = named.WithDigest(named.Digest).String()
			}
			if container != "" && len(refs) == 1 && !force {
				return errdefs.Conflict("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, shortContainer(container), ShortID(rec.ID))
			}
			if err := untag(tx, name); err != nil {
				return err
			}
			items = append(items, DeleteItem{Untagged: familiar(name)})
			refs = without(refs, name)
			// The repository's last tag gone: its repo digests go too.
			if !isDigestName(name) && !hasTagIn(refs, repoName(name)) {
				var rest []string
				for _, r := range refs {
					if isDigestName(r) && repoName(r) == repoName(name) {
						if err := untag(tx, r); err != nil {
							return err
						}
						items = append(items, DeleteItem{Untagged: familiar(r)})
						continue
					}
					rest = append(rest, r)
				}
				refs = rest
			}
			if len(refs) > 0 || container != "" {
				// Other names keep the image; or a container does,
				// which after an untag Docker lets pass silently.
				return nil
			}
		} else {
			if container != "" {
				if running {
					return errdefs.Conflict("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", ShortID(rec.ID), shortContainer(container))
				}
				if !force {
					return errdefs.Conflict("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", ShortID(rec.ID), shortContainer(container))
				}
			}
			if len(refs) > 0 && !force && !singleReference(refs) {
				return errdefs.Conflict("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", ShortID(rec.ID))
			}
		}
		more, err := deleteRecord(tx, rec, refs)
		items = append(items, more...)
		deleted = rec
		return err
	})
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if deleted != nil {
		more, _ := s.collectAfterDelete(ctx, []*metadata.Image{deleted})
		items = append(items, more...)
	}
	return items, nil
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

// collectAfterDelete runs GC and reports the deleted images' layers it
// removed, top layer first, as Docker lists them.
func (s *Service) collectAfterDelete(ctx context.Context, recs []*metadata.Image) ([]DeleteItem, int64) {
	// The images are gone whatever GC manages; what it cannot remove now
	// the next collection retries, so its error is not the caller's.
	res, _ := s.runGC(ctx)
	var items []DeleteItem
	seen := map[digest.Digest]bool{}
	for _, rec := range recs {
		for i := len(rec.Layers) - 1; i >= 0; i-- {
			c := digest.Digest(rec.Layers[i])
			if res.layers[c] && !seen[c] {
				seen[c] = true
				items = append(items, DeleteItem{Deleted: c.String()})
			}
		}
	}
	return items, res.reclaimed
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

// Prune removes unused images: with dangling, those without a tag;
// otherwise every image no container uses, untagging it first. f narrows
// the choice (Until, Label, LabelNot). It returns what it did and the bytes
// freed (layers and blobs).
func (s *Service) Prune(dangling bool, f ListFilter) ([]DeleteItem, int64, error) {
	ctx := context.Background()
	until, err := parseUntil(f.Until, time.Now())
	if err != nil {
		return nil, 0, err
	}
	var items []DeleteItem
	var deleted []*metadata.Image
	s.mu.Lock()
	err = s.db.Update(ctx, func(tx *metadata.Tx) error {
		items, deleted = nil, nil
		recs, err := tx.ListImages()
		if err != nil {
			return err
		}
		tags, digests, err := allNames(tx)
		if err != nil {
			return err
		}
		for _, rec := range recs {
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
			refs := append(append([]string{}, tags[rec.ID]...), digests[rec.ID]...)
			more, err := deleteRecord(tx, rec, refs)
			if err != nil {
				return err
			}
			items = append(items, more...)
			deleted = append(deleted, rec)
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	if len(deleted) == 0 {
		return []DeleteItem{}, 0, nil
	}
	more, reclaimed := s.collectAfterDelete(ctx, deleted)
	return append(items, more...), reclaimed, nil
}
