package images

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// Docker's archive, as `docker save` of Docker 20.10 writes it.

// v1IDs names the layer directories of a docker save archive as Docker's
// legacy layout does: one ID per layer, derived from the chain (and, for
// the top layer, the image), so equal chains get equal directories.
func v1IDs(it *saveItem) []string {
	out := make([]string, len(it.layers))
	parent := ""
	for i, l := range it.layers {
		s := parent + " " + l.ChainID.String()
		if i == len(it.layers)-1 {
			s += " " + it.img.ID.String()
		}
		out[i] = digest.FromString(s).Encoded()
		parent = out[i]
	}
	return out
}

// v1JSON is the legacy per-layer json file Docker writes beside layer.tar.
func v1JSON(it *saveItem, i int, ids []string) ([]byte, error) {
	m := map[string]any{}
	if i == len(ids)-1 {
		// The top layer's json carries the image's config.
		if err := json.Unmarshal(it.img.RawConfig, &m); err != nil {
			return nil, err
		}
		delete(m, "history")
		delete(m, "rootfs")
	} else {
		m["created"] = time.Unix(0, 0).UTC()
		m["container_config"] = map[string]any{"Cmd": nil}
	}
	m["id"] = ids[i]
	if i > 0 {
		m["parent"] = ids[i-1]
	}
	return json.Marshal(m)
}

func (s *Service) writeDockerArchive(ctx context.Context, out layoutWriter, items []*saveItem) error {
	var manifest []dockerManifestEntry
	repos := map[string]map[string]string{}
	written := map[digest.Digest]string{} // diff ID -> its layer.tar path
	for _, it := range items {
		mtime := it.img.Created
		if mtime.IsZero() {
			mtime = time.Unix(0, 0)
		}
		ids := v1IDs(it)
		entry := dockerManifestEntry{Config: it.img.ID.Encoded() + ".json"}
		for i, l := range it.layers {
			if err := ctx.Err(); err != nil {
				return err
			}
			tarPath := ids[i] + "/layer.tar"
			entry.Layers = append(entry.Layers, tarPath)
			if _, done := written[digest.Digest("dir:"+ids[i])]; done {
				continue
			}
			written[digest.Digest("dir:"+ids[i])] = tarPath
			if err := out.Dir(ids[i], mtime); err != nil {
				return err
			}
			if err := writeBytes(out, ids[i]+"/VERSION", []byte("1.0"), mtime); err != nil {
				return err
			}
			js, err := v1JSON(it, i, ids)
			if err != nil {
				return fmt.Errorf("image %s: config: %w", ShortID(it.img.ID), err)
			}
			if err := writeBytes(out, ids[i]+"/json", js, mtime); err != nil {
				return err
			}
			if prev, ok := written[l.DiffID]; ok {
				// The same layer content again: Docker links it.
				if err := out.Symlink(tarPath, "../"+prev, mtime); err != nil {
					return err
				}
				continue
			}
			if err := s.writeLayerTar(out, tarPath, l, it.blobs[i], mtime); err != nil {
				return err
			}
			written[l.DiffID] = tarPath
		}
		if err := writeBytes(out, entry.Config, it.img.RawConfig, mtime); err != nil {
			return err
		}
		for _, t := range it.tags {
			fam := familiar(t)
			entry.RepoTags = append(entry.RepoTags, fam)
			n, err := parseName(t)
			if err != nil {
				return err
			}
			if repos[n.FamiliarName()] == nil {
				repos[n.FamiliarName()] = map[string]string{}
			}
			if len(ids) > 0 {
				repos[n.FamiliarName()][n.Tag] = ids[len(ids)-1]
			}
		}
		manifest = append(manifest, entry)
	}
	now := time.Unix(0, 0)
	b, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := writeBytes(out, "manifest.json", b, now); err != nil {
		return err
	}
	if len(repos) > 0 {
		b, err := json.Marshal(repos)
		if err != nil {
			return err
		}
		if err := writeBytes(out, "repositories", b, now); err != nil {
			return err
		}
	}
	return nil
}

func writeBytes(out layoutWriter, name string, b []byte, mtime time.Time) error {
	return out.File(name, int64(len(b)), mtime, bytes.NewReader(b))
}

// writeLayerTar writes a layer uncompressed, as docker save does. The size
// of a compressed blob's tar is not recorded, so the blob is inflated
// twice: once to count (and check the diff ID), once to write.
func (s *Service) writeLayerTar(out layoutWriter, name string, l *metadata.Layer, blob digest.Digest, mtime time.Time) error {
	if blob == "" {
		return errdefs.NotFound("layer %s: its blob was not kept, so it cannot be saved", l.DiffID)
	}
	open := func() (io.ReadCloser, func(), error) {
		f, err := s.cs.Open(blob)
		if err != nil {
			return nil, nil, fmt.Errorf("layer %s: %w", l.DiffID, err)
		}
		r, err := archive.Decompress(f)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("layer %s: %w", l.DiffID, err)
		}
		return r, func() { r.Close(); f.Close() }, nil
	}
	r, done, err := open()
	if err != nil {
		return err
	}
	v := l.DiffID.Algorithm().Digester()
	size, err := io.Copy(v.Hash(), r)
	done()
	if err != nil {
		return fmt.Errorf("layer %s: read blob %s: %w", l.DiffID, blob, err)
	}
	if got := v.Digest(); got != l.DiffID {
		return fmt.Errorf("layer %s: blob %s inflates to %s: %w", l.DiffID, blob, got, errdefs.ErrInvalidArgument)
	}
	r, done, err = open()
	if err != nil {
		return err
	}
	defer done()
	return out.File(name, size, mtime, bufio.NewReaderSize(r, 1<<20))
}
