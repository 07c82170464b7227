package images

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// SaveFormat chooses what Save writes.
type SaveFormat int

const (
	// SaveDocker is docker save's archive in Docker 20.10's layout:
	// <layer>/layer.tar (uncompressed) with VERSION and json beside it,
	// <config hex>.json, manifest.json and repositories.
	SaveDocker SaveFormat = iota
	// SaveOCI is an OCI image layout (oci-layout, index.json, blobs/) with
	// the layer blobs as held (compressed), plus a manifest.json that
	// points into blobs/, as Docker 25 writes, so docker load reads it too.
	SaveOCI
)

// ParseSaveFormat reads a format name: "" or "docker", "oci".
func ParseSaveFormat(s string) (SaveFormat, error) {
	switch s {
	case "", "docker", "docker-archive":
		return SaveDocker, nil
	case "oci", "oci-archive":
		return SaveOCI, nil
	}
	return 0, errdefs.Invalid("unknown save format %q (want docker or oci)", s)
}

// saveItem is one image to save with the names it is saved under.
type saveItem struct {
	img    *Image
	tags   []string // full names
	layers []*metadata.Layer
	// blobs are the layer blobs, from the manifest when there is one.
	blobs []digest.Digest
}

// Save writes the images refs name as a tar to w. A name with a tag saves
// that tag; a bare repository name ("busybox") saves all its tags; an ID
// saves the image without names. Layers are read from the kept blobs,
// their diff IDs verified on the way.
func (s *Service) Save(ctx context.Context, w io.Writer, refs []string, format SaveFormat) error {
	// A lease keeps an rmi's collection from pulling blobs from under us.
	release := s.Lease()
	defer release()
	items, err := s.selectForSave(ctx, refs)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	out := tarLayout{tw}
	switch format {
	case SaveDocker:
		err = s.writeDockerArchive(ctx, out, items)
	case SaveOCI:
		err = s.writeOCILayout(ctx, out, items, true, nil)
	default:
		err = errdefs.Invalid("unknown save format %d", format)
	}
	if err != nil {
		return err
	}
	return tw.Close()
}

// SaveOCIDir writes the images as an OCI image layout into dir (created
// when missing; blobs already there are kept), the form skopeo's and
// umoci's "oci:" transports use.
func (s *Service) SaveOCIDir(ctx context.Context, dir string, refs []string) error {
	release := s.Lease()
	defer release()
	items, err := s.selectForSave(ctx, refs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save to %s: %w", dir, err)
	}
	// A layout may hold other images already: keep their entries, as
	// skopeo and umoci do, except those whose tag is written anew.
	var keep []ocispec.Descriptor
	if b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile)); err == nil {
		var old ocispec.Index
		if err := json.Unmarshal(b, &old); err != nil {
			return errdefs.Invalid("save to %s: existing index.json: %v", dir, err)
		}
		keep = old.Manifests
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save to %s: %w", dir, err)
	}
	return s.writeOCILayout(ctx, dirLayout{dir}, items, false, keep)
}

func (s *Service) selectForSave(ctx context.Context, refs []string) ([]*saveItem, error) {
	if len(refs) == 0 {
		return nil, errdefs.Invalid("no images to save")
	}
	var items []*saveItem
	byID := map[digest.Digest]*saveItem{}
	err := s.db.View(ctx, func(tx *metadata.Tx) error {
		for _, ref := range refs {
			rec, named, err := resolveRecord(tx, ref)
			if err != nil {
				return err
			}
			var names []string
			switch {
			case named == nil || named.Digest != "":
			case hasTag(ref):
				names = []string{named.String()}
			default:
				// A bare repository name: every tag of it.
				tags, err := tx.ListTags()
				if err != nil {
					return err
				}
				for _, t := range tags {
					if repoName(t.Name) == named.Name() {
						if t.ImageID != rec.ID {
							if err := addSaveItem(tx, &items, byID, t.ImageID, []string{t.Name}); err != nil {
								return err
							}
							continue
						}
						names = append(names, t.Name)
					}
				}
			}
			if err := addSaveItem(tx, &items, byID, rec.ID, names); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.img.Manifest == "" {
			continue
		}
		b, err := s.cs.ReadAll(it.img.Manifest, maxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("image %s: manifest: %w", ShortID(it.img.ID), err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("image %s: manifest %s: %w", ShortID(it.img.ID), it.img.Manifest, err)
		}
		if len(m.Layers) == len(it.blobs) {
			for i, l := range m.Layers {
				it.blobs[i] = l.Digest
			}
		}
	}
	return items, nil
}

func addSaveItem(tx *metadata.Tx, items *[]*saveItem, byID map[digest.Digest]*saveItem, id digest.Digest, names []string) error {
	it := byID[id]
	if it == nil {
		rec, err := tx.GetImage(id)
		if err != nil {
			return err
		}
		img, err := loadImage(tx, rec)
		if err != nil {
			return err
		}
		it = &saveItem{img: img}
		for _, c := range img.Layers {
			l, err := tx.GetLayer(c)
			if err != nil {
				return fmt.Errorf("image %s: %w", ShortID(id), err)
			}
			it.layers = append(it.layers, l)
		}
		it.blobs = make([]digest.Digest, len(it.layers))
		for i, l := range it.layers {
			it.blobs[i] = l.Blob
		}
		byID[id] = it
		*items = append(*items, it)
	}
	for _, n := range names {
		if !contains(it.tags, n) {
			it.tags = append(it.tags, n)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
