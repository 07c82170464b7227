package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// Register records an image whose blobs and layers are already in the
// stores: the manifest (stored under manifestDigest, or stored here when
// manifestDigest is ""), the raw config, the full tag names to point at it
// (each moved off the image it named before) and a repo digest
// ("docker.io/library/busybox@sha256:...", may be ""). Registering an image
// again updates its names only.
func (s *Service) Register(ctx context.Context, manifest ocispec.Manifest, manifestDigest digest.Digest, mediaType string, config []byte, tags []string, repoDigest string) (*Image, error) {
	return s.register(ctx, manifest, manifestDigest, mediaType, config, tags, repoDigest, "")
}

// register is Register recording the image's parent ("" keeps the parent
// an image registered again already has).
func (s *Service) register(ctx context.Context, manifest ocispec.Manifest, manifestDigest digest.Digest, mediaType string, config []byte, tags []string, repoDigest string, parent digest.Digest) (*Image, error) {
	id := digest.FromBytes(config)
	if manifest.Config.Digest != "" && manifest.Config.Digest != id {
		return nil, errdefs.Invalid("manifest names config %s but the config given has digest %s", manifest.Config.Digest, id)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, errdefs.Invalid("image config %s: %v", id, err)
	}
	if cfg.RootFS.Type != "layers" {
		return nil, errdefs.Invalid("image config %s: rootfs type %q, want \"layers\"", id, cfg.RootFS.Type)
	}
	if len(manifest.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, errdefs.Invalid("image %s: manifest has %d layers but the config %d diff IDs", id, len(manifest.Layers), len(cfg.RootFS.DiffIDs))
	}
	names, err := parseTags(tags)
	if err != nil {
		return nil, err
	}
	if repoDigest != "" {
		n, err := parseName(repoDigest)
		if err != nil {
			return nil, err
		}
		if n.Digest == "" {
			return nil, errdefs.Invalid("repo digest %q has no digest", repoDigest)
		}
		repoDigest = n.WithDigest(n.Digest).String()
	}

	chain := layers.ChainIDs(cfg.RootFS.DiffIDs)
	rec := &metadata.Image{
		ID:                id,
		ManifestDigest:    manifestDigest,
		ManifestMediaType: mediaType,
		Config:            config,
		Layers:            make([]string, len(chain)),
		Loaded:            time.Now().UTC(),
		Parent:            parent,
	}
	if cfg.Created != nil {
		rec.Created = *cfg.Created
	}
	for i, c := range chain {
		l, err := s.ls.Get(c)
		if err != nil {
			return nil, fmt.Errorf("image %s: layer %d (%s): %w", id, i+1, cfg.RootFS.DiffIDs[i], err)
		}
		rec.Layers[i] = c.String()
		rec.Size += l.Size
	}
	if err := s.storeBlob(config, id); err != nil {
		return nil, err
	}
	synthesized := manifestDigest == ""
	if synthesized && len(manifest.Layers) > 0 {
		b, err := json.Marshal(manifest)
		if err != nil {
			return nil, fmt.Errorf("image %s: manifest: %w", id, err)
		}
		rec.ManifestDigest = digest.FromBytes(b)
		if rec.ManifestMediaType == "" {
			rec.ManifestMediaType = manifest.MediaType
		}
		if err := s.storeBlob(b, rec.ManifestDigest); err != nil {
			return nil, err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var img *Image
	err = s.db.Update(ctx, func(tx *metadata.Tx) error {
		if old, err := tx.GetImage(id); err == nil {
			// A manifest made up here (a docker archive has none) does
			// not replace one the image came with; a real one (a pull,
			// an OCI archive) replaces whatever was there.
			if synthesized && old.ManifestDigest != "" {
				rec.ManifestDigest, rec.ManifestMediaType = old.ManifestDigest, old.ManifestMediaType
			}
			rec.Loaded = old.Loaded
			if rec.Parent == "" {
				rec.Parent = old.Parent
			}
		} else if !errdefs.IsNotFound(err) {
			return err
		}
		if err := tx.PutImage(rec); err != nil {
			return err
		}
		for _, n := range names {
			if err := tx.PutTag(metadata.Tag{Name: n, ImageID: id}); err != nil {
				return err
			}
		}
		if repoDigest != "" {
			if err := tx.PutRepoDigest(metadata.RepoDigest{Name: repoDigest, ImageID: id}); err != nil {
				return err
			}
		}
		var err error
		img, err = loadImage(tx, rec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("register image %s: %w", id, err)
	}
	return img, nil
}

// parseTags normalizes tag names; digests are refused (a tag names a
// mutable pointer, a digest does not).
func parseTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		n, err := parseName(t)
		if err != nil {
			return nil, err
		}
		if n.Digest != "" {
			return nil, errdefs.Invalid("refusing to create a tag with a digest reference: %s", t)
		}
		out = append(out, n.String())
	}
	return out, nil
}

// storeBlob puts b in the content store under d unless it is there.
func (s *Service) storeBlob(b []byte, d digest.Digest) error {
	if _, err := s.cs.Info(d); err == nil {
		return nil
	}
	if _, _, err := s.cs.Put(bytes.NewReader(b), d, int64(len(b))); err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	return nil
}
