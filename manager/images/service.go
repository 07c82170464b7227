// Package images is the manager's image service: it records images (from a
// pull, a load or an import) with their tags and repo digests, resolves the
// names users give, lists, tags, removes and prunes images, shows their
// history, saves and loads them as docker save archives and OCI image
// layouts, imports rootfs tarballs, reports disk usage, and garbage-collects
// the blobs and layers no image needs any more.
//
// An image's ID is the digest of its config, as with Docker. The bytes live
// in the content store (manifests, configs, compressed layers) and the
// layer store (one unpacked snapshot per chain ID); what refers to what lives
// in the metadata database. Names are kept in their full form
// (docker.io/library/busybox:latest) and shown in the familiar one
// (busybox:latest).
package images

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// maxConfigSize bounds the manifests and configs read whole into memory.
const maxConfigSize = 8 << 20

// Service is the image service. Its methods are safe for concurrent use.
type Service struct {
	db *metadata.DB
	cs *content.Store
	ls *layers.Store

	// InUse reports a container that uses the image id: its ID and whether
	// it runs. It returns "" when none does. Nil until containers exist.
	// Remove refuses such an image as Docker does (a running container's
	// image even with force; a stopped one's unless forced), and Prune
	// leaves it.
	InUse func(id digest.Digest) (container string, running bool)

	// mu serializes changes of names and images (tag, untag, delete), so
	// that Docker's "last tag removed, so delete" decisions see a stable
	// state.
	mu sync.Mutex

	gc gcState

	// tmpDir holds temp files (<data-root>/tmp).
	tmpDir string
}

// New returns the image service over the metadata database, the content
// store and the layer store.
func New(db *metadata.DB, cs *content.Store, ls *layers.Store) *Service {
	s := &Service{db: db, cs: cs, ls: ls, tmpDir: filepath.Join(filepath.Dir(cs.Root()), "tmp")}
	s.gc.cond = sync.NewCond(&s.gc.mu)
	// Temp files of an import the previous daemon did not finish.
	old, _ := filepath.Glob(filepath.Join(s.tmpDir, tempPrefix+"*"))
	for _, p := range old {
		os.Remove(p)
	}
	return s
}

// tempPrefix starts the names of the service's temp files.
const tempPrefix = "images-"

// tempFile makes a temp file in <data-root>/tmp (the content store's
// sibling, so on the same file system).
func (s *Service) tempFile(what string) (*os.File, error) {
	if err := os.MkdirAll(s.tmpDir, 0o700); err != nil {
		return nil, err
	}
	return os.CreateTemp(s.tmpDir, tempPrefix+what)
}

// Image is an image as the service reports it.
type Image struct {
	ID          digest.Digest // sha256 of the config
	RepoTags    []string      // familiar form: busybox:latest
	RepoDigests []string      // familiar form: busybox@sha256:...
	Created     time.Time
	Size        int64 // unpacked size of all its layers
	Config      ocispec.Image
	RawConfig   []byte
	Manifest    digest.Digest
	// ManifestMediaType is the media type of the stored manifest.
	ManifestMediaType string
	Layers            []digest.Digest // chain IDs, bottom first
	// DiffIDs are the config's rootfs.diff_ids, bottom first.
	DiffIDs []digest.Digest
	// Comment and DockerVersion are Docker's config fields of those names
	// (the OCI config type has no place for them).
	Comment       string
	DockerVersion string
	Author        string
	// Parent is the ID of the image this one was built or committed on
	// ("" for none): the recorded parent, else the config's legacy
	// "parent" field.
	Parent string
}

// ShortID is the 12 hex digits Docker shows for an ID.
func ShortID(id digest.Digest) string {
	e := id.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// dockerFields are the config fields Docker writes that ocispec.Image does
// not hold.
type dockerFields struct {
	Comment       string `json:"comment,omitempty"`
	DockerVersion string `json:"docker_version,omitempty"`
	Parent        string `json:"parent,omitempty"`
}

// fromRecord builds the service's view of an image record with its names.
func fromRecord(rec *metadata.Image, tags, digests []string) (*Image, error) {
	img := &Image{
		ID:                rec.ID,
		RepoTags:          familiarAll(tags),
		RepoDigests:       familiarAll(digests),
		Created:           rec.Created,
		Size:              rec.Size,
		RawConfig:         rec.Config,
		Manifest:          rec.ManifestDigest,
		ManifestMediaType: rec.ManifestMediaType,
		Layers:            chainIDs(rec.Layers),
	}
	if err := json.Unmarshal(rec.Config, &img.Config); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", rec.ID, err)
	}
	var extra dockerFields
	_ = json.Unmarshal(rec.Config, &extra) // same bytes decoded above
	img.Comment, img.DockerVersion, img.Parent = extra.Comment, extra.DockerVersion, extra.Parent
	if rec.Parent != "" {
		img.Parent = rec.Parent.String()
	}
	img.Author = img.Config.Author
	img.DiffIDs = img.Config.RootFS.DiffIDs
	return img, nil
}

func chainIDs(ss []string) []digest.Digest {
	out := make([]digest.Digest, len(ss))
	for i, s := range ss {
		out[i] = digest.Digest(s)
	}
	return out
}
