package images

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import makes a one-layer image from a root filesystem tarball (plain,
// gzip, zstd, bzip2 or xz), as `docker import` does. ref ("" for none)
// tags it; cfg is its run config (import --change instructions, applied
// by build.ApplyChanges); message becomes the image's comment and its history
// entry ("Imported from -" when empty); platform's empty fields default to
// linux and the host's architecture. The layer blob is kept gzipped for a
// later push: a gzip input is kept as given, anything else is recompressed.
func (s *Service) Import(ctx context.Context, r io.Reader, ref string, cfg dockerspec.DockerOCIImageConfig, message string, platform ocispec.Platform) (_ *Image, err error) {
	tags, err := refTags(ref, "import")
	if err != nil {
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
	c := commitConfig{
		DockerOCIImage: dockerspec.DockerOCIImage{
			Image: ocispec.Image{
				Created:  &created,
				Platform: platform,
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
				History:  []ocispec.History{{Created: &created, Comment: message}},
			},
		},
		Config:  runConfig{DockerOCIImageConfig: cfg},
		Comment: message,
	}
	return s.registerMade(ctx, c, []ocispec.Descriptor{blob}, tags, "", "import")
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
