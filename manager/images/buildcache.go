package images

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// The build cache is Docker's classic one: a build step whose key (its
// instruction and inputs, the builder's business) ran on image parent
// ("" for FROM scratch) made image; a later build with the same parent
// and key reuses that image. Rows die with their image.

// CacheGet returns the image a step with key made on parent. It is
// NotFound when there is no such row or the image is gone.
func (s *Service) CacheGet(parent digest.Digest, key string) (*Image, error) {
	var img *Image
	err := s.db.View(context.Background(), func(tx *metadata.Tx) error {
		e, err := tx.GetCache(parent, key)
		if err != nil {
			return err
		}
		rec, err := tx.GetImage(e.ImageID)
		if err != nil {
			return err
		}
		img, err = loadImage(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// CachePut records that the step with key, run on parent, made image.
func (s *Service) CachePut(parent, image digest.Digest, key string) error {
	return s.db.Update(context.Background(), func(tx *metadata.Tx) error {
		return tx.PutCache(metadata.CacheEntry{Parent: parent, Key: key, ImageID: image})
	})
}

// CachePrune removes the images builds made (those the cache names) that
// nothing needs: untagged, no container's, and no ancestor of an image
// that stays. Their cache rows go with them; with all, every other row
// goes too (the images stay). It returns the bytes freed, best effort: a
// collection deferred by a running pull or load counts nothing.
func (s *Service) CachePrune(ctx context.Context, all bool) (int64, error) {
	var d deletion
	s.mu.Lock()
	err := s.db.Update(ctx, func(tx *metadata.Tx) error {
		d = deletion{}
		entries, err := tx.ListCache()
		if err != nil {
			return err
		}
		recs, err := tx.ListImages()
		if err != nil {
			return err
		}
		tags, digests, err := allNames(tx)
		if err != nil {
			return err
		}
		byID := map[digest.Digest]*metadata.Image{}
		for _, rec := range recs {
			byID[rec.ID] = rec
		}
		// Candidates: built, unnamed, unused.
		gone := map[digest.Digest]bool{}
		for _, e := range entries {
			id := e.ImageID
			if byID[id] == nil || len(tags[id])+len(digests[id]) > 0 {
				continue
			}
			if c, _ := s.inUse(id); c != "" {
				continue
			}
			gone[id] = true
		}
		// An image that stays keeps its ancestors.
		for _, rec := range recs {
			if gone[rec.ID] {
				continue
			}
			for p, n := rec.Parent, 0; p != "" && n <= len(recs); n++ {
				delete(gone, p)
				if byID[p] == nil {
					break
				}
				p = byID[p].Parent
			}
		}
		// Children first, so that no image outlives its parent.
		for len(gone) > 0 {
			progress := false
			for _, rec := range recs {
				if !gone[rec.ID] {
					continue
				}
				kids, err := tx.ChildrenOf(rec.ID)
				if err != nil {
					return err
				}
				if len(kids) > 0 {
					continue
				}
				if err := s.deleteImage(tx, rec, false, false, false, &d); err != nil {
					return fmt.Errorf("build cache prune: %w", err)
				}
				delete(gone, rec.ID)
				progress = true
			}
			if !progress {
				return errdefs.Conflict("build cache prune: images with children outside the cache: %d left", len(gone))
			}
		}
		if all {
			_, err := tx.ClearCache()
			return err
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	_, reclaimed := s.collectAfterDelete(ctx, d)
	return reclaimed, nil
}
