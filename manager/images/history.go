package images

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// HistoryItem is one line of `docker history`.
type HistoryItem struct {
	// ID is the image the step made: the image itself on the newest
	// line, then its parents while they are in the store (a local build's
	// steps), "<missing>" past them.
	ID        string
	Created   time.Time
	CreatedBy string
	Tags      []string
	Size      int64 // the unpacked size of the layer the step made, 0 for an empty step
	Comment   string
}

// History lists the steps of the image's config history, newest first.
// Steps that made a layer get that layer's size, matched in order against
// the config's diff IDs, as Docker does.
func (s *Service) History(ref string) ([]HistoryItem, error) {
	var img *Image
	var chain []*Image // img, its parent, ...
	sizes := map[digest.Digest]int64{}
	err := s.db.View(context.Background(), func(tx *metadata.Tx) error {
		rec, _, err := resolveRecord(tx, ref)
		if err != nil {
			return err
		}
		if img, err = loadImage(tx, rec); err != nil {
			return err
		}
		for _, c := range img.Layers {
			l, err := tx.GetLayer(c)
			if err != nil {
				return err
			}
			sizes[c] = l.Size
		}
		chain = append(chain, img)
		// Docker's walk: one history line per image up the parent chain,
		// as each build step adds one line and makes one image.
		seen := map[digest.Digest]bool{rec.ID: true}
		for p := rec.Parent; p != "" && !seen[p] && len(chain) < len(img.Config.History); {
			prec, err := tx.GetImage(p)
			if errdefs.IsNotFound(err) {
				break
			}
			if err != nil {
				return err
			}
			pimg, err := loadImage(tx, prec)
			if err != nil {
				return err
			}
			chain = append(chain, pimg)
			seen[p], p = true, prec.Parent
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []HistoryItem
	n := 0
	for _, h := range img.Config.History {
		var size int64
		if !h.EmptyLayer {
			if n >= len(img.Layers) {
				return nil, errdefs.Invalid("image %s: too many non-empty layers in History section", ShortID(img.ID))
			}
			size = sizes[img.Layers[n]]
			n++
		}
		item := HistoryItem{ID: "<missing>", CreatedBy: h.CreatedBy, Size: size, Comment: h.Comment}
		if h.Created != nil {
			item.Created = *h.Created
		}
		out = append(out, item)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	for i := 0; i < len(out) && i < len(chain); i++ {
		out[i].ID = chain[i].ID.String()
		out[i].Tags = chain[i].RepoTags
	}
	return out, nil
}
