package images

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/metadata"
)

// The OCI image layout, as skopeo, umoci and Docker 25 write it.

// ociManifest returns the image's manifest as OCI media types: a Docker
// schema 2 manifest is rewritten (same config and layer blobs), an OCI one
// is kept byte for byte.
func (s *Service) ociManifest(it *saveItem) ([]byte, ocispec.Manifest, error) {
	var m ocispec.Manifest
	if it.img.Manifest != "" {
		b, err := s.cs.ReadAll(it.img.Manifest, maxConfigSize)
		if err != nil {
			return nil, m, fmt.Errorf("image %s: manifest: %w", ShortID(it.img.ID), err)
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, m, fmt.Errorf("image %s: manifest %s: %w", ShortID(it.img.ID), it.img.Manifest, err)
		}
		if m.MediaType == ocispec.MediaTypeImageManifest || (m.MediaType == "" && m.Config.MediaType == ocispec.MediaTypeImageConfig) {
			return b, m, nil
		}
	} else {
		m = manifestFor(it.img, it.layers)
	}
	m.MediaType = ocispec.MediaTypeImageManifest
	m.Config.MediaType = ocispec.MediaTypeImageConfig
	for i := range m.Layers {
		m.Layers[i].MediaType = ociLayerType(m.Layers[i].MediaType)
	}
	b, err := json.Marshal(m)
	return b, m, err
}

// manifestFor builds a manifest from what the layer records say.
func manifestFor(img *Image, ls []*metadata.Layer) ocispec.Manifest {
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.ID, Size: int64(len(img.RawConfig))},
	}
	for _, l := range ls {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: l.BlobMediaType, Digest: l.Blob, Size: l.BlobSize})
	}
	return m
}

func ociLayerType(mt string) string {
	switch mt {
	case mediaTypeDockerLayerGzip:
		return ocispec.MediaTypeImageLayerGzip
	case mediaTypeDockerLayer:
		return ocispec.MediaTypeImageLayer
	case mediaTypeDockerForeignGzip:
		return ocispec.MediaTypeImageLayerNonDistributableGzip //nolint:staticcheck // the OCI name for Docker's foreign layers
	}
	return mt
}

// writeOCILayout writes the items as an OCI layout; keep are index entries
// of images already in the layout.
func (s *Service) writeOCILayout(ctx context.Context, out layoutWriter, items []*saveItem, withDockerManifest bool, keep []ocispec.Descriptor) error {
	epoch := time.Unix(0, 0)
	blobsWritten := map[digest.Digest]bool{}
	blob := func(d digest.Digest, b []byte) error {
		if blobsWritten[d] {
			return nil
		}
		blobsWritten[d] = true
		return writeBytes(out, blobPath(d), b, epoch)
	}
	if err := out.Dir("blobs", epoch); err != nil {
		return err
	}
	if err := out.Dir("blobs/sha256", epoch); err != nil {
		return err
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	var dockerManifest []dockerManifestEntry
	for _, it := range items {
		mb, m, err := s.ociManifest(it)
		if err != nil {
			return err
		}
		if len(m.Layers) != len(it.layers) {
			return fmt.Errorf("image %s: manifest has %d layers, the image %d", ShortID(it.img.ID), len(m.Layers), len(it.layers))
		}
		entry := dockerManifestEntry{Config: blobPath(it.img.ID)}
		for i, ld := range m.Layers {
			if err := ctx.Err(); err != nil {
				return err
			}
			entry.Layers = append(entry.Layers, blobPath(ld.Digest))
			if blobsWritten[ld.Digest] {
				continue
			}
			f, err := s.cs.Open(ld.Digest)
			if err != nil {
				return fmt.Errorf("image %s: layer %d: %w", ShortID(it.img.ID), i+1, err)
			}
			st, err := f.Stat()
			if err == nil {
				err = out.File(blobPath(ld.Digest), st.Size(), epoch, f)
			}
			f.Close()
			if err != nil {
				return fmt.Errorf("image %s: layer %d: %w", ShortID(it.img.ID), i+1, err)
			}
			blobsWritten[ld.Digest] = true
		}
		if err := blob(it.img.ID, it.img.RawConfig); err != nil {
			return err
		}
		md := digest.FromBytes(mb)
		if err := blob(md, mb); err != nil {
			return err
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}
		if len(it.tags) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		for _, t := range it.tags {
			n, err := parseName(t)
			if err != nil {
				return err
			}
			d := desc
			d.Annotations = map[string]string{annotationImageName: n.String(), ocispec.AnnotationRefName: n.Tag}
			idx.Manifests = append(idx.Manifests, d)
			entry.RepoTags = append(entry.RepoTags, n.Familiar())
		}
		dockerManifest = append(dockerManifest, entry)
	}
	written := map[string]bool{}
	for _, d := range idx.Manifests {
		if r := d.Annotations[ocispec.AnnotationRefName]; r != "" {
			written[r] = true
		}
	}
	var kept []ocispec.Descriptor
	for _, d := range keep {
		if r := d.Annotations[ocispec.AnnotationRefName]; r == "" || !written[r] {
			kept = append(kept, d)
		}
	}
	idx.Manifests = append(kept, idx.Manifests...)
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := writeBytes(out, ocispec.ImageIndexFile, b, epoch); err != nil {
		return err
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := writeBytes(out, ocispec.ImageLayoutFile, layout, epoch); err != nil {
		return err
	}
	if withDockerManifest {
		b, err := json.Marshal(dockerManifest)
		if err != nil {
			return err
		}
		return writeBytes(out, "manifest.json", b, epoch)
	}
	return nil
}

func blobPath(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

// isBlobPath tells whether name is blobs/<alg>/<hex> and gives the digest.
func isBlobPath(name string) (digest.Digest, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	return d, d.Validate() == nil
}
