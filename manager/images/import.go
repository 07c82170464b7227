package images

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// importConfig is the config `docker import` writes: the OCI fields plus
// Docker's comment.
type importConfig struct {
	ocispec.Image
	Comment string `json:"comment,omitempty"`
}

// Import makes a one-layer image from a root filesystem tarball (plain,
// gzip, zstd, bzip2 or xz), as `docker import` does. ref ("" for none)
// tags it; changes are Dockerfile instructions for its config (see
// ApplyChanges); message becomes the image's comment and its history
// entry ("Imported from -" when empty); platform's empty fields default to
// linux and the host's architecture. The layer blob is kept gzipped for a
// later push: a gzip input is kept as given, anything else is recompressed.
func (s *Service) Import(ctx context.Context, r io.Reader, ref string, changes []string, message string, platform ocispec.Platform) (_ *Image, err error) {
	var tags []string
	if ref != "" {
		n, err := parseName(ref)
		if err != nil {
			return nil, err
		}
		if n.Digest != "" {
			return nil, errdefs.Invalid("import: refusing to create a tag with a digest reference: %s", ref)
		}
		tags = []string{n.String()}
	}
	var cfg ocispec.ImageConfig
	if err := ApplyChanges(&cfg, changes); err != nil {
		return nil, err
	}
	if platform.OS == "" {
		platform.OS = "linux"
	}
	if platform.Architecture == "" {
		platform.Architecture = runtime.GOARCH
	}
	if message == "" {
		message = "Imported from -"
	}

	release := s.Lease()
	defer func() {
		release()
		if err != nil {
			s.GC(context.Background()) // what the failed import stored
		}
	}()
	blob, diffID, err := s.importLayer(ctx, r)
	if err != nil {
		return nil, err
	}
	created := time.Now().UTC()
	c := importConfig{
		Image: ocispec.Image{
			Created:  &created,
			Platform: platform,
			Config:   cfg,
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
			History:  []ocispec.History{{Created: &created, Comment: message}},
		},
		Comment: message,
	}
	config, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: mediaTypeDockerManifest,
		Config:    ocispec.Descriptor{MediaType: mediaTypeDockerConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{blob},
	}
	img, err := s.Register(ctx, m, "", m.MediaType, config, tags, "")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return img, nil
}

// importLayer unpacks the tarball as a base layer and stores its blob
// gzipped. It returns the blob's descriptor and the tar's diff ID.
//
// A gzip input is kept byte for byte: it is read once to store it and
// learn the diff ID, then unpacked from the store. Anything else is stored
// uncompressed first (its digest is then the diff ID), and that copy is
// unpacked and gzipped at the same time; GC later removes it.
func (s *Service) importLayer(ctx context.Context, r io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, _ := br.Peek(8)
	if len(head) == 0 {
		return ocispec.Descriptor{}, "", errdefs.Invalid("import: the tarball is empty")
	}
	if archive.Detect(head) == archive.Gzip {
		blob, diffID, err := s.storeGzip(br)
		if err != nil {
			return ocispec.Descriptor{}, "", err
		}
		if _, err := s.ls.Unpack(ctx, blob, diffID, ""); err != nil {
			return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
		}
		return blob, diffID, nil
	}
	zr, err := archive.Decompress(br)
	if err != nil {
		return ocispec.Descriptor{}, "", errdefs.Invalid("import: %v", err)
	}
	// The tar goes to a temp file (no fsync: it does not outlive the
	// import) while its diff ID is computed.
	tmp, err := s.tempFile("import-")
	if err != nil {
		zr.Close()
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := digest.SHA256.Digester()
	size, err := io.Copy(io.MultiWriter(tmp, h.Hash()), zr)
	zr.Close()
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: reading the tarball: %w", err)
	}
	diffID := h.Digest()
	tarDesc := ocispec.Descriptor{MediaType: mediaTypeDockerLayer, Digest: diffID, Size: size}
	var applyErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, applyErr = s.ls.Apply(ctx, io.NewSectionReader(tmp, 0, size), tarDesc, diffID, "")
	}()
	blob, gzErr := s.storeGzipped(io.NewSectionReader(tmp, 0, size))
	<-done
	if applyErr != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", applyErr)
	}
	if gzErr != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", gzErr)
	}
	// The layer was unpacked from the uncompressed copy; its record must
	// name the gzip blob, which stays.
	err = s.db.Update(ctx, func(tx *metadata.Tx) error {
		l, err := tx.GetLayer(diffID) // a base layer's chain ID is its diff ID
		if err != nil {
			return err
		}
		if l.Blob != diffID {
			return nil
		}
		l.Blob, l.BlobMediaType, l.BlobSize = blob.Digest, blob.MediaType, blob.Size
		return tx.PutLayer(l)
	})
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	return blob, diffID, nil
}

// storeGzip stores a gzip stream as given and returns its descriptor and
// the digest of what it inflates to.
func (s *Service) storeGzip(br *bufio.Reader) (ocispec.Descriptor, digest.Digest, error) {
	w, err := s.cs.Writer("", -1)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer w.Close()
	diff := digest.SHA256.Digester()
	zr, err := archive.Decompress(io.TeeReader(br, w))
	if err != nil {
		return ocispec.Descriptor{}, "", errdefs.Invalid("import: %v", err)
	}
	_, err = io.Copy(diff.Hash(), zr)
	zr.Close()
	if err == nil {
		_, err = io.Copy(w, br) // anything after the gzip stream
	}
	if err != nil {
		return ocispec.Descriptor{}, "", errdefs.Invalid("import: reading the tarball: %v", err)
	}
	d, err := w.Commit()
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	return ocispec.Descriptor{MediaType: mediaTypeDockerLayerGzip, Digest: d, Size: w.Size()}, diff.Digest(), nil
}

// storeGzipped stores r gzipped, at the fastest level: import is
// interactive, and the blob only has to be valid for a push.
func (s *Service) storeGzipped(r io.Reader) (ocispec.Descriptor, error) {
	w, err := s.cs.Writer("", -1)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer w.Close()
	gz, err := pgzip.NewWriterLevel(w, pgzip.BestSpeed)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, err := io.Copy(gz, r); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("compress layer: %w", err)
	}
	if err := gz.Close(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("compress layer: %w", err)
	}
	gd, err := w.Commit()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaTypeDockerLayerGzip, Digest: gd, Size: w.Size()}, nil
}
