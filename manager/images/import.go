package images

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// importConfig is the config `docker import` writes: the OCI fields plus
// Docker's comment.
type importConfig struct {
	dockerspec.DockerOCIImage
	Comment string `json:"comment,omitempty"`
}

// Import makes a one-layer image from a root filesystem tarball (plain,
// gzip, zstd, bzip2 or xz), as `docker import` does. ref ("" for none)
// tags it; cfg is its run config (import --change instructions, applied
// by build.ApplyChanges); message becomes the image's comment and its history
// entry ("Imported from -" when empty); platform's empty fields default to
// linux and the host's architecture. The layer blob is kept gzipped for a
// later push: a gzip input is kept as given, anything else is recompressed.
func (s *Service) Import(ctx context.Context, r io.Reader, ref string, cfg dockerspec.DockerOCIImageConfig, message string, platform ocispec.Platform) (_ *Image, err error) {
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
		DockerOCIImage: dockerspec.DockerOCIImage{
			Image: ocispec.Image{
				Created:  &created,
				Platform: platform,
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
				History:  []ocispec.History{{Created: &created, Comment: message}},
			},
			Config: cfg,
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

// importLayer unpacks the tarball as a base layer in one pass (the layer
// store learns the diff ID while untarring) and stores its blob gzipped:
// a gzip input as given, anything else compressed on the way. It returns
// the blob's descriptor and the tar's diff ID.
func (s *Service) importLayer(ctx context.Context, r io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	l, blob, err := s.ls.ApplyTar(ctx, r, "", mediaTypeDockerLayerGzip)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	return blob, l.DiffID, nil
}
