package images

import (
	"context"
	"fmt"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// What a build's --cache-from needs of the store, as Docker 20.10's
// ImageCache does it: an image's steps are read back from its history, so
// a pulled or loaded image (which has no parents here) can stand in for
// the images the build would make.

// HistoryLayer tells which layer of img the history entry at index made:
// its position in img.DiffIDs, or empty when the entry is an empty_layer
// one. ok is false when index is past the history or the history names
// more layers than the image has.
func HistoryLayer(img *Image, index int) (layer int, empty, ok bool) {
	h := img.Config.History
	if index < 0 || index >= len(h) {
		return 0, false, false
	}
	for _, e := range h[:index] {
		if !e.EmptyLayer {
			layer++
		}
	}
	if h[index].EmptyLayer {
		return layer, true, true
	}
	return layer, false, layer < len(img.DiffIDs)
}

// CommitCached makes the image a build step gets from a cache source: the
// parent's history plus the source's entry at index, the parent's layers
// plus the layer of that entry (none for an empty_layer entry), and cfg as
// its run config; parent (nil for none) is recorded as its parent. As
// Docker's restoreCachedImage, its created time is the entry's and its
// author and platform are the source's, so the same step gives the same
// image ID again. The layer is the source's own, already in the layer
// store: nothing is unpacked or compressed. The caller has checked that
// the parent's history and diff IDs start the source's.
func (s *Service) CommitCached(ctx context.Context, parent, source *Image, index int, cfg dockerspec.DockerOCIImageConfig) (*Image, error) {
	layer, empty, ok := HistoryLayer(source, index)
	if !ok {
		return nil, errdefs.Invalid("cache source %s: no layer for history entry %d", ShortID(source.ID), index)
	}
	if parent != nil && index != len(parent.Config.History) || parent == nil && index != 0 {
		return nil, errdefs.Invalid("cache source %s: history entry %d does not follow the parent's history", ShortID(source.ID), index)
	}
	release := s.Lease()
	defer release()
	var (
		diffIDs  []digest.Digest
		history  []ocispec.History
		blobs    []ocispec.Descriptor
		parentID digest.Digest
	)
	if parent != nil {
		diffIDs = append(diffIDs, parent.DiffIDs...)
		history = append(history, parent.Config.History...)
		var err error
		if blobs, err = s.layerBlobs(parent); err != nil {
			return nil, fmt.Errorf("cache-from: parent image %s: %w", ShortID(parent.ID), err)
		}
		parentID = parent.ID
	}
	if !empty {
		if layer != len(diffIDs) {
			return nil, errdefs.Invalid("cache source %s: history entry %d is layer %d, the parent has %d", ShortID(source.ID), index, layer+1, len(diffIDs))
		}
		sb, err := s.layerBlobs(source)
		if err != nil {
			return nil, fmt.Errorf("cache-from: source image %s: %w", ShortID(source.ID), err)
		}
		if layer >= len(sb) {
			return nil, errdefs.Invalid("cache source %s: %d layer blobs for %d layers", ShortID(source.ID), len(sb), len(source.DiffIDs))
		}
		diffIDs, blobs = append(diffIDs, source.DiffIDs[layer]), append(blobs, sb[layer])
	}
	h := source.Config.History[index]
	c := commitConfig{
		DockerOCIImage: dockerspec.DockerOCIImage{
			Image: ocispec.Image{
				Created:  h.Created,
				Author:   source.Config.Author,
				Platform: source.Config.Platform,
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
				History:  append(history, h),
			},
		},
		Config: runConfig{DockerOCIImageConfig: cfg, Image: parentID.String()},
	}
	return s.registerMade(ctx, c, blobs, nil, parentID, "cache-from")
}

// SetParent records parent as the parent image of id, as a build that took
// its last step from the cache source id does in Docker. An image cannot
// become its own ancestor.
func (s *Service) SetParent(id, parent digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(context.Background(), func(tx *metadata.Tx) error {
		rec, err := tx.GetImage(id)
		if err != nil {
			return err
		}
		if rec.Parent == parent {
			return nil
		}
		if parent != "" {
			if parent == id {
				return errdefs.Invalid("image %s cannot be its own parent", ShortID(id))
			}
			loop, err := isAncestor(tx, parent, id)
			if err != nil {
				return err
			}
			if loop {
				return errdefs.Invalid("image %s is an ancestor of %s: it cannot be its child", ShortID(id), ShortID(parent))
			}
		}
		rec.Parent = parent
		return tx.PutImage(rec)
	})
}

// IsAncestor reports whether ancestor is on id's recorded parent chain
// (not id itself), as Docker's ImageCache asks of a local cache hit when
// the build has cache sources.
func (s *Service) IsAncestor(id, ancestor digest.Digest) (bool, error) {
	var found bool
	err := s.db.View(context.Background(), func(tx *metadata.Tx) error {
		var err error
		found, err = isAncestor(tx, id, ancestor)
		return err
	})
	return found, err
}

func isAncestor(tx *metadata.Tx, id, ancestor digest.Digest) (bool, error) {
	rec, err := tx.GetImage(id)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	seen := map[digest.Digest]bool{id: true}
	for p := rec.Parent; p != "" && !seen[p]; {
		if p == ancestor {
			return true, nil
		}
		seen[p] = true
		prec, err := tx.GetImage(p)
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		p = prec.Parent
	}
	return false, nil
}
