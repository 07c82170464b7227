package images

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// DiskUsage is what `docker system df` reports about images.
type DiskUsage struct {
	// LayersSize is the unpacked size of every layer held.
	LayersSize int64
	// BlobsSize is the size of the content store: compressed layers kept
	// for push, manifests and configs. Docker keeps no such copies.
	BlobsSize int64
	Images    []ImageUsage
	// BuildCacheSize is 0 until builds exist.
	BuildCacheSize int64
}

// ImageUsage is one image in DiskUsage.
type ImageUsage struct {
	*Image
	// SharedSize is the size of this image's layers that other images
	// use too; Size-SharedSize is what removing it alone would free.
	SharedSize int64
	// Containers is the number of containers using the image (0 or 1
	// until containers exist and report more).
	Containers int
}

// DiskUsage reports the space images take.
func (s *Service) DiskUsage(ctx context.Context) (DiskUsage, error) {
	var du DiskUsage
	err := s.db.View(ctx, func(tx *metadata.Tx) error {
		recs, err := tx.ListImages()
		if err != nil {
			return err
		}
		tags, digests, err := allNames(tx)
		if err != nil {
			return err
		}
		ls, err := tx.ListLayers()
		if err != nil {
			return err
		}
		size := map[digest.Digest]int64{}
		for _, l := range ls {
			size[l.ChainID] = l.Size
			du.LayersSize += l.Size
		}
		users := map[digest.Digest]int{}
		for _, rec := range recs {
			for _, c := range rec.Layers {
				users[digest.Digest(c)]++
			}
		}
		for _, rec := range recs {
			img, err := fromRecord(rec, tags[rec.ID], digests[rec.ID])
			if err != nil {
				return err
			}
			u := ImageUsage{Image: img}
			for _, c := range img.Layers {
				if users[c] > 1 {
					u.SharedSize += size[c]
				}
			}
			if c, _ := s.inUse(img.ID); c != "" {
				u.Containers = 1
			}
			du.Images = append(du.Images, u)
		}
		return nil
	})
	if err != nil {
		return DiskUsage{}, err
	}
	err = s.cs.Walk(func(i content.Info) error {
		du.BlobsSize += i.Size
		return nil
	})
	return du, err
}
