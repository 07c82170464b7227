package images

import (
	"bufio"
	"bytes"
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

// commitConfig is the config `docker commit` and Docker's classic builder
// write: the OCI fields, the config's Docker extensions (Healthcheck,
// OnBuild, Shell), and Docker's comment. Like dockerd, the parent is kept
// in the store's records, not in the config: the image ID does not depend
// on it and a saved image does not carry it.
type commitConfig struct {
	dockerspec.DockerOCIImage
	// Config shadows the embedded one to add Docker's "Image": the image
	// the step or container ran on (dockerd writes it; OCI has no field).
	Config  runConfig `json:"config,omitempty"`
	Comment string    `json:"comment,omitempty"`
}

type runConfig struct {
	dockerspec.DockerOCIImageConfig
	Image string `json:"Image,omitempty"`
}

// Commit makes an image of parent (nil: none, as FROM scratch) plus one
// layer read from layerTar (a container's changes, whiteouts as ".wh."
// entries), as `docker commit` does. As in Docker 20.10, a tar without
// entries adds no layer: its history entry is marked empty_layer. cfg is
// the new image's run config; h is its history entry (CreatedBy, Comment,
// Author; Created is set here) appended to the parent's history; ref (""
// for none) tags it. The image's author and comment are h's, and parent
// is recorded as its parent image.
func (s *Service) Commit(ctx context.Context, parent *Image, layerTar io.Reader, cfg ocispec.ImageConfig, h ocispec.History, ref string) (*Image, error) {
	return s.CommitConfig(ctx, parent, layerTar, dockerspec.DockerOCIImageConfig{ImageConfig: cfg}, h, ref)
}

// ConfigOf returns the image's run config with Docker's extensions
// (Healthcheck, OnBuild, Shell), which ocispec.ImageConfig has no place
// for. An unreadable config gives the zero value.
func ConfigOf(img *Image) dockerspec.DockerOCIImageConfig {
	var doc struct {
		Config dockerspec.DockerOCIImageConfig `json:"config"`
	}
	if err := json.Unmarshal(img.RawConfig, &doc); err != nil {
		return dockerspec.DockerOCIImageConfig{ImageConfig: img.Config.Config}
	}
	return doc.Config
}

// CommitConfig is Commit with Docker's config extensions: the builder's
// HEALTHCHECK, ONBUILD and SHELL are kept in the config as Docker names
// them ("Healthcheck", "OnBuild", "Shell").
func (s *Service) CommitConfig(ctx context.Context, parent *Image, layerTar io.Reader, cfg dockerspec.DockerOCIImageConfig, h ocispec.History, ref string) (_ *Image, err error) {
	tags, err := refTags(ref, "commit")
	if err != nil {
		return nil, err
	}
	release := s.Lease()
	defer func() {
		release()
		if err != nil {
			s.GC(context.Background()) // what the failed commit stored
		}
	}()

	platform := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	var (
		parentChain digest.Digest
		diffIDs     []digest.Digest
		history     []ocispec.History
		blobs       []ocispec.Descriptor
		parentID    digest.Digest
	)
	if parent != nil {
		if n := len(parent.Layers); n > 0 {
			parentChain = parent.Layers[n-1]
		}
		diffIDs = append(diffIDs, parent.DiffIDs...)
		history = append(history, parent.Config.History...)
		if parent.Config.OS != "" {
			platform = parent.Config.Platform
		}
		if blobs, err = s.layerBlobs(parent); err != nil {
			return nil, fmt.Errorf("commit: parent image %s: %w", ShortID(parent.ID), err)
		}
		parentID = parent.ID
	}

	br := bufio.NewReaderSize(layerTar, 64<<10)
	h.EmptyLayer = emptyTar(br)
	if !h.EmptyLayer {
		l, blob, err := s.ls.ApplyTar(ctx, br, parentChain, mediaTypeDockerLayerGzip)
		if err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		diffIDs, blobs = append(diffIDs, l.DiffID), append(blobs, blob)
	}
	created := time.Now().UTC()
	h.Created = &created
	c := commitConfig{
		DockerOCIImage: dockerspec.DockerOCIImage{
			Image: ocispec.Image{
				Created:  &created,
				Author:   h.Author,
				Platform: platform,
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
				History:  append(history, h),
			},
		},
		Config:  runConfig{DockerOCIImageConfig: cfg, Image: parentID.String()},
		Comment: h.Comment,
	}
	return s.registerMade(ctx, c, blobs, tags, parentID, "commit")
}

// refTags is the tag a commit or an import was asked for ("" for none).
func refTags(ref, what string) ([]string, error) {
	if ref == "" {
		return nil, nil
	}
	n, err := parseName(ref)
	if err != nil {
		return nil, err
	}
	if n.Digest != "" {
		return nil, errdefs.Invalid("%s: refusing to create a tag with a digest reference: %s", what, ref)
	}
	return []string{n.String()}, nil
}

// registerMade stores the config of an image made here (commit, build
// step, import), writes its Docker manifest over blobs and registers it.
func (s *Service) registerMade(ctx context.Context, c commitConfig, blobs []ocispec.Descriptor, tags []string, parent digest.Digest, what string) (*Image, error) {
	config, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: mediaTypeDockerManifest,
		Config:    ocispec.Descriptor{MediaType: mediaTypeDockerConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    blobs,
	}
	img, err := s.register(ctx, m, "", m.MediaType, config, tags, "", parent)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return img, nil
}

// layerBlobs returns the descriptors of an image's layer blobs in Docker's
// media types: from its manifest, else from the layer records.
func (s *Service) layerBlobs(img *Image) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	if img.Manifest != "" {
		b, err := s.cs.ReadAll(img.Manifest, maxConfigSize)
		if err == nil {
			var m ocispec.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("manifest %s: %w", img.Manifest, err)
			}
			if len(m.Layers) == len(img.Layers) {
				for _, d := range m.Layers {
					out = append(out, ocispec.Descriptor{MediaType: dockerLayerType(d.MediaType), Digest: d.Digest, Size: d.Size})
				}
				return out, nil
			}
		}
	}
	for _, chain := range img.Layers {
		l, err := s.ls.Get(chain)
		if err != nil {
			return nil, err
		}
		out = append(out, ocispec.Descriptor{MediaType: dockerLayerType(l.BlobMediaType), Digest: l.Blob, Size: l.BlobSize})
	}
	return out, nil
}

// dockerLayerType maps an OCI layer media type to Docker's (a Docker
// schema 2 manifest names Docker's).
func dockerLayerType(mt string) string {
	switch mt {
	case ocispec.MediaTypeImageLayerGzip, "":
		return mediaTypeDockerLayerGzip
	case ocispec.MediaTypeImageLayer:
		return mediaTypeDockerLayer
	case ocispec.MediaTypeImageLayerNonDistributableGzip: //nolint:staticcheck // Docker's foreign layers
		return mediaTypeDockerForeignGzip
	}
	return mt
}

// emptyTar reports whether the tar in br has no entries: only its
// end-of-archive blocks (zeros), as a tar of an empty directory is.
func emptyTar(br *bufio.Reader) bool {
	const endBlocks = 1024
	head, _ := br.Peek(endBlocks + 1)
	return len(head) == endBlocks && bytes.Count(head, []byte{0}) == endBlocks
}
