package images

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/progress"
)

// This file turns what an archive held into images: the docker save
// manifest.json or the OCI index.json says which configs and layers make
// each image; layers are unpacked and the images registered.

// loadParallel is how many layers of one image are unpacked at once.
var loadParallel = min(4, max(2, runtime.NumCPU()))

func (s *Service) loadFiles(ctx context.Context, f *loadFiles, p progress.Sink) ([]string, error) {
	if p == nil {
		p = progress.Discard
	}
	if f.has("manifest.json") {
		return s.loadDocker(ctx, f, p)
	}
	if f.has(ocispec.ImageIndexFile) {
		return s.loadOCI(ctx, f, p)
	}
	return nil, errdefs.Invalid("load: the archive has neither manifest.json (docker save) nor index.json (OCI image layout)")
}

// image is one image to load: its manifest (as found or as made), config
// and names.
type pendingImage struct {
	manifest       ocispec.Manifest
	manifestDigest digest.Digest
	mediaType      string
	config         []byte
	tags           []string // full names
}

func (s *Service) loadDocker(ctx context.Context, f *loadFiles, p progress.Sink) ([]string, error) {
	mb, err := f.bytes(s, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(mb, &entries); err != nil {
		return nil, errdefs.Invalid("load: manifest.json: %v", err)
	}
	known := s.archiveManifests(f)
	var todo []*pendingImage
	for i, e := range entries {
		cfg, err := f.bytes(s, e.Config)
		if err != nil {
			return nil, err
		}
		li := &pendingImage{config: cfg}
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: mediaTypeDockerManifest,
			Config:    ocispec.Descriptor{MediaType: mediaTypeDockerConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		}
		oci := false
		for _, lp := range e.Layers {
			d, err := f.blob(s, lp)
			if err != nil {
				return nil, err
			}
			desc, err := s.describeBlob(d)
			if err != nil {
				return nil, err
			}
			if desc.MediaType == ocispec.MediaTypeImageLayerZstd {
				oci = true
			}
			m.Layers = append(m.Layers, desc)
		}
		if oci {
			// Docker's schema 2 has no zstd layers: say it in OCI.
			m.MediaType, m.Config.MediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
			for j := range m.Layers {
				m.Layers[j].MediaType = ociLayerType(m.Layers[j].MediaType)
			}
		}
		li.manifest, li.mediaType = m, m.MediaType
		if have, ok := known[m.Config.Digest]; ok && sameLayers(have.manifest, m) {
			// The archive carries the image's own manifest (Docker 25,
			// our --format oci): keep it, so the image pushes as it was.
			li.manifest, li.manifestDigest, li.mediaType = have.manifest, have.digest, have.mediaType
		}
		for _, t := range e.RepoTags {
			n, err := parseName(t)
			if err != nil {
				return nil, fmt.Errorf("load: manifest.json image %d: %w", i+1, err)
			}
			li.tags = append(li.tags, n.String())
		}
		todo = append(todo, li)
	}
	return s.loadImages(ctx, todo, p)
}

// archivedManifest is a manifest an archive's index.json names.
type archivedManifest struct {
	manifest  ocispec.Manifest
	digest    digest.Digest
	mediaType string
}

// archiveManifests maps config digests to the manifests of the archive's
// index.json, when it has one beside manifest.json. What cannot be read is
// left out: manifest.json alone is enough to load.
func (s *Service) archiveManifests(f *loadFiles) map[digest.Digest]archivedManifest {
	out := map[digest.Digest]archivedManifest{}
	ib, err := f.bytes(s, ocispec.ImageIndexFile)
	if err != nil {
		return out
	}
	var idx ocispec.Index
	if json.Unmarshal(ib, &idx) != nil {
		return out
	}
	for _, d := range idx.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest && d.MediaType != mediaTypeDockerManifest {
			continue
		}
		b, err := s.cs.ReadAll(d.Digest, maxConfigSize)
		if err != nil {
			continue
		}
		var m ocispec.Manifest
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		out[m.Config.Digest] = archivedManifest{manifest: m, digest: d.Digest, mediaType: d.MediaType}
	}
	return out
}

// sameLayers tells whether two manifests name the same layer blobs.
func sameLayers(a, b ocispec.Manifest) bool {
	if len(a.Layers) != len(b.Layers) {
		return false
	}
	for i := range a.Layers {
		if a.Layers[i].Digest != b.Layers[i].Digest {
			return false
		}
	}
	return true
}

// describeBlob makes a layer descriptor for a blob from its first bytes.
func (s *Service) describeBlob(d digest.Digest) (ocispec.Descriptor, error) {
	fh, err := s.cs.Open(d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	head := make([]byte, 8)
	n, _ := io.ReadFull(fh, head)
	mt := mediaTypeDockerLayer
	switch archive.Detect(head[:n]) {
	case archive.Gzip:
		mt = mediaTypeDockerLayerGzip
	case archive.Zstd:
		mt = ocispec.MediaTypeImageLayerZstd
	case archive.Uncompressed:
	default:
		return ocispec.Descriptor{}, errdefs.Invalid("load: layer %s: compression %s is not supported in images", d, archive.Detect(head[:n]))
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: st.Size()}, nil
}

func (s *Service) loadOCI(ctx context.Context, f *loadFiles, p progress.Sink) ([]string, error) {
	ib, err := f.bytes(s, ocispec.ImageIndexFile)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(ib, &idx); err != nil {
		return nil, errdefs.Invalid("load: index.json: %v", err)
	}
	if lb, err := f.bytes(s, ocispec.ImageLayoutFile); err == nil {
		var l ocispec.ImageLayout
		if err := json.Unmarshal(lb, &l); err != nil || l.Version != ocispec.ImageLayoutVersion {
			return nil, errdefs.Invalid("load: oci-layout: unsupported layout version (want %s)", ocispec.ImageLayoutVersion)
		}
	}
	byDigest := map[digest.Digest]*pendingImage{}
	var todo []*pendingImage
	var walk func(desc ocispec.Descriptor, names []string, depth int) error
	walk = func(desc ocispec.Descriptor, names []string, depth int) error {
		if depth > 4 {
			return errdefs.Invalid("load: index.json: indexes nested too deep")
		}
		switch desc.MediaType {
		case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
			b, err := s.cs.ReadAll(desc.Digest, maxConfigSize)
			if err != nil {
				return fmt.Errorf("load: index %s: %w", desc.Digest, err)
			}
			var child ocispec.Index
			if err := json.Unmarshal(b, &child); err != nil {
				return errdefs.Invalid("load: index %s: %v", desc.Digest, err)
			}
			pick, err := pickPlatform(child.Manifests)
			if err != nil {
				return fmt.Errorf("load: index %s: %w", desc.Digest, err)
			}
			return walk(pick, names, depth+1)
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest, "":
		default:
			return errdefs.Invalid("load: index.json: unsupported media type %q", desc.MediaType)
		}
		if li := byDigest[desc.Digest]; li != nil {
			li.tags = append(li.tags, names...)
			return nil
		}
		b, err := s.cs.ReadAll(desc.Digest, maxConfigSize)
		if err != nil {
			return fmt.Errorf("load: manifest %s: %w", desc.Digest, err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return errdefs.Invalid("load: manifest %s: %v", desc.Digest, err)
		}
		cfg, err := s.cs.ReadAll(m.Config.Digest, maxConfigSize)
		if err != nil {
			return fmt.Errorf("load: config %s: %w", m.Config.Digest, err)
		}
		mt := desc.MediaType
		if mt == "" {
			mt = m.MediaType
		}
		li := &pendingImage{manifest: m, manifestDigest: desc.Digest, mediaType: mt, config: cfg, tags: names}
		byDigest[desc.Digest] = li
		todo = append(todo, li)
		return nil
	}
	for _, desc := range idx.Manifests {
		var names []string
		if n := imageNameOf(desc.Annotations); n != "" {
			names = append(names, n)
		}
		if err := walk(desc, names, 0); err != nil {
			return nil, err
		}
	}
	return s.loadImages(ctx, todo, p)
}

// imageNameOf reads an image's name from an OCI index entry. A ref.name
// that is itself a full reference ("busybox:latest", "localhost:5000/x:1",
// as `skopeo copy ... oci:dir:busybox:latest` writes) is the name. Else
// containerd's (and Docker's) io.containerd.image.name is, when ref.name is
// absent or is that name's tag (tools such as umoci copy annotations to a
// new entry, so a different ref.name means a different image). A bare
// ref.name alone ("latest", as skopeo and umoci write for oci:dir:latest)
// names no repository, so such an image loads untagged.
func imageNameOf(ann map[string]string) string {
	ref, hasRef := ann[ocispec.AnnotationRefName]
	if hasRef && strings.ContainsAny(ref, ":/") {
		if named, err := parseName(ref); err == nil && named.Digest == "" {
			return named.String()
		}
		return ""
	}
	if n, ok := ann[annotationImageName]; ok {
		if named, err := parseName(n); err == nil && named.Digest == "" && (!hasRef || ref == named.Tag) {
			return named.String()
		}
	}
	return ""
}

// pickPlatform chooses the host's image from an index, as a pull does.
func pickPlatform(ms []ocispec.Descriptor) (ocispec.Descriptor, error) {
	for _, m := range ms {
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
			return m, nil
		}
	}
	if len(ms) == 1 {
		return ms[0], nil
	}
	return ocispec.Descriptor{}, errdefs.NotFound("no image for linux/%s in the index", runtime.GOARCH)
}

// loadImages unpacks each image's layers (several at a time) and
// registers it.
func (s *Service) loadImages(ctx context.Context, todo []*pendingImage, p progress.Sink) ([]string, error) {
	var loaded []string
	for _, li := range todo {
		var cfg ocispec.Image
		if err := json.Unmarshal(li.config, &cfg); err != nil {
			return nil, errdefs.Invalid("load: config %s: %v", digest.FromBytes(li.config), err)
		}
		diffIDs := cfg.RootFS.DiffIDs
		if len(diffIDs) != len(li.manifest.Layers) {
			return nil, errdefs.Invalid("load: image %s: %d layers but %d diff IDs in its config", ShortID(digest.FromBytes(li.config)), len(li.manifest.Layers), len(diffIDs))
		}
		if err := s.unpackAll(ctx, li.manifest.Layers, diffIDs, p); err != nil {
			return nil, err
		}
		moved := s.tagOwners(ctx, li.tags)
		img, err := s.Register(ctx, li.manifest, li.manifestDigest, li.mediaType, li.config, li.tags, "")
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		for _, t := range li.tags {
			if old, ok := moved[t]; ok && old != img.ID {
				p.Send(progress.Message(fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", familiar(t), old)))
			}
		}
		if len(li.tags) == 0 {
			loaded = append(loaded, img.ID.String())
		}
		for _, t := range li.tags {
			loaded = append(loaded, familiar(t))
		}
	}
	return loaded, nil
}

// tagOwners says which image each tag names now.
func (s *Service) tagOwners(ctx context.Context, tags []string) map[string]digest.Digest {
	out := map[string]digest.Digest{}
	s.db.View(ctx, func(tx *metadata.Tx) error {
		for _, t := range tags {
			if id, err := tagImage(tx, t); err == nil {
				out[t] = id
			}
		}
		return nil
	})
	return out
}

// unpackAll unpacks the layers of one image from the content store, up to
// loadParallel at a time (their chain IDs are known up front).
func (s *Service) unpackAll(ctx context.Context, descs []ocispec.Descriptor, diffIDs []digest.Digest, p progress.Sink) error {
	chain := layers.ChainIDs(diffIDs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, loadParallel)
	var wg sync.WaitGroup
	errs := make([]error, len(descs))
	for i := range descs {
		if _, err := s.ls.Get(chain[i]); err == nil {
			continue // held already
		}
		// Slots are taken in layer order: with the native driver a layer
		// waits for its parent, which must then already hold a slot.
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			var parent digest.Digest
			if i > 0 {
				parent = chain[i-1]
			}
			if errs[i] = s.unpackOne(ctx, descs[i], diffIDs[i], parent, chain[i], p); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

func (s *Service) unpackOne(ctx context.Context, desc ocispec.Descriptor, diffID, parent, chainID digest.Digest, p progress.Sink) error {
	f, err := s.cs.Open(desc.Digest)
	if err != nil {
		return fmt.Errorf("load: layer %s: %w", desc.Digest, err)
	}
	defer f.Close()
	id := ShortID(chainID)
	r := progress.Reader(bufio.NewReaderSize(f, 1<<20), p, id, "Loading layer", desc.Size)
	if _, err := s.ls.Apply(ctx, r, desc, diffID, parent); err != nil {
		return fmt.Errorf("load: layer %s: %w", diffID, err)
	}
	return nil
}
