package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/reference"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// Pull fetches the image ref names (a tag, "latest" by default, or a
// digest) for platform (nil: the host's) and registers it with the image
// service under the tag and the repository digest. Manifests and the
// config come from the content store when it has them; the only request
// a pull of an image already held makes is the tag's manifest. Layers are
// fetched Options.Parallel at a time, each streamed once into the content
// store and the layer store together. On failure nothing of the pull is
// visible: no image or tag, and the blobs and layers it added are
// collected.
//
// The error is returned, not sent to p: as dockerd, the caller answers
// with an HTTP error when nothing was streamed yet (progress.Started) and
// ends the stream with progress.Event{Error} otherwise. Nothing is sent
// before the manifest is resolved, so "not found" and "unauthorized"
// arrive as plain errors.
func (r *Registry) Pull(ctx context.Context, ref string, platform *ocispec.Platform, p progress.Sink) (*images.Image, error) {
	if p == nil {
		p = progress.Discard
	}
	n, err := reference.Parse(ref)
	if err != nil {
		return nil, err
	}
	img, err := r.pull(ctx, n, platform, p)
	if err != nil {
		return nil, pullError(n, err)
	}
	return img, nil
}

// pullError words a failure as Docker does for the common cases.
func pullError(n reference.Named, err error) error {
	switch {
	case errdefs.IsUnauthorized(err):
		return fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %w", n.FamiliarName(), err)
	}
	return err
}

func (r *Registry) pull(ctx context.Context, n reference.Named, platform *ocispec.Platform, p progress.Sink) (*images.Image, error) {
	// From the first blob written until the image is registered, garbage
	// collection must not take what this pull adds.
	release := r.is.Lease()
	defer release()
	added := false
	defer func() {
		if added {
			// Run after the lease is gone: collect what a failed
			// pull left (blobs, layers no image names).
			release()
			r.is.GC(context.WithoutCancel(ctx))
		}
	}()

	// The registry is contacted (ping, token) only when something is
	// not held: a pull by digest of a held image needs no network.
	rc := &lazyRepo{r: r, n: n}
	tagOrDigest := n.Tag
	ref := n.Tag
	if n.Digest != "" {
		tagOrDigest, ref = n.Digest.String(), n.Digest.String()
	}
	// The top-level manifest: by digest from the content store when held,
	// otherwise one GET.
	top, mt, topDigest, err := r.topManifest(ctx, rc, n, ref)
	if err != nil {
		return nil, err
	}
	p.Send(progress.Event{ID: tagOrDigest, Status: "Pulling from " + n.Path})
	mb, mmt, md := top, mt, topDigest
	if isIndex(mt) {
		desc, err := selectPlatform(top, platform)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Familiar(), err)
		}
		if mb, err = r.cs.ReadAll(desc.Digest, maxManifestSize); err != nil {
			c, err := rc.get(ctx)
			if err != nil {
				return nil, err
			}
			if mb, mmt, md, err = c.manifest(ctx, desc.Digest.String()); err != nil {
				return nil, classify(err, "manifest "+desc.Digest.String())
			}
		} else if mmt, err = mediaType(mb, desc.MediaType); err != nil {
			return nil, err
		}
		md = desc.Digest
		if !isManifest(mmt) {
			return nil, errdefs.Invalid("%s: index entry %s is %s, not an image manifest", n.Familiar(), md, mmt)
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, errdefs.Invalid("malformed manifest %s: %v", md, err)
	}
	if err := checkManifest(&m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", md, err)
	}

	cfgBytes, err := r.config(ctx, rc, m.Config)
	if err != nil {
		return nil, err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return nil, errdefs.Invalid("malformed image config %s: %v", m.Config.Digest, err)
	}
	if platform != nil && !isIndex(mt) {
		// A single-platform image asked for with --platform must be
		// that platform, as docker 20.10 insists.
		want, got := *platform, ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		normalize(&want)
		normalize(&got)
		if got.OS != want.OS || (want.Architecture != "" && got.Architecture != want.Architecture) {
			return nil, errdefs.NotFound("image with reference %s was found but does not match the specified platform: wanted %s/%s, actual: %s/%s",
				n.Familiar(), want.OS, want.Architecture, got.OS, got.Architecture)
		}
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, errdefs.Invalid("image config %s lists %d layers (diff_ids) but manifest %s has %d", m.Config.Digest, len(cfg.RootFS.DiffIDs), md, len(m.Layers))
	}

	// Keep the manifests: push and save read them, and a pull by digest
	// finds them here.
	for _, b := range []struct {
		d digest.Digest
		b []byte
	}{{topDigest, top}, {md, mb}} {
		if _, err := r.cs.Info(b.d); err != nil {
			added = true
			if _, _, err := r.cs.Put(bytes.NewReader(b.b), b.d, int64(len(b.b))); err != nil {
				return nil, fmt.Errorf("storing manifest %s: %w", b.d, err)
			}
		}
	}

	// An image held already is complete: as docker, no layer lines then.
	fetched := false
	if held, herr := r.is.Resolve(m.Config.Digest.String()); herr != nil || held.ID != m.Config.Digest {
		fetched, err = r.layers(ctx, rc, m.Layers, cfg.RootFS.DiffIDs, p)
	}
	if fetched {
		added = true
	}
	if err != nil {
		return nil, err
	}

	var tags []string
	if n.Digest == "" {
		tags = []string{n.String()}
	}
	before, _ := r.is.Resolve(n.String())
	img, err := r.is.Register(ctx, m, md, mmt, cfgBytes, tags, n.WithDigest(topDigest).String())
	if err != nil {
		return nil, err
	}
	added = false
	p.Send(progress.Message("Digest: " + topDigest.String()))
	if before != nil && before.ID == img.ID && !fetched {
		p.Send(progress.Message("Status: Image is up to date for " + n.Familiar()))
	} else {
		p.Send(progress.Message("Status: Downloaded newer image for " + n.Familiar()))
	}
	return img, nil
}

// topManifest returns the manifest or index ref names. A digest already in
// the content store is read from there (content addressed: it cannot be
// stale); a tag always asks the registry, as tags move.
func (r *Registry) topManifest(ctx context.Context, rc *lazyRepo, n reference.Named, ref string) ([]byte, string, digest.Digest, error) {
	if n.Digest != "" {
		if b, err := r.cs.ReadAll(n.Digest, maxManifestSize); err == nil {
			mt, err := mediaType(b, "")
			return b, mt, n.Digest, err
		}
	}
	c, err := rc.get(ctx)
	if err != nil {
		return nil, "", "", err
	}
	b, mt, d, err := c.manifest(ctx, ref)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil, "", "", errdefs.NotFound("manifest for %s not found: %s", n.Familiar(), registryMessage(te))
		}
		return nil, "", "", classify(err, "manifest for "+n.Familiar())
	}
	return b, mt, d, nil
}

// checkManifest refuses what a pull cannot store: no config, layers of a
// kind we cannot unpack, blobs that live elsewhere (foreign layers).
func checkManifest(m *ocispec.Manifest) error {
	if m.Config.Digest == "" {
		return errdefs.Invalid("malformed manifest: no config")
	}
	if err := m.Config.Digest.Validate(); err != nil {
		return errdefs.Invalid("malformed manifest: config digest %q: %v", m.Config.Digest, err)
	}
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return errdefs.Invalid("malformed manifest: layer %d digest %q: %v", i+1, l.Digest, err)
		}
		if l.Size < 0 {
			return errdefs.Invalid("malformed manifest: layer %d has size %d", i+1, l.Size)
		}
		switch l.MediaType {
		case mediaDockerLayer, ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd:
		case mediaDockerForeign, ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip, ocispec.MediaTypeImageLayerNonDistributableZstd: //nolint:staticcheck // still met in the wild
			return errdefs.Invalid("layer %s is a foreign layer (%s): not supported", l.Digest, l.MediaType)
		default:
			return errdefs.Invalid("layer %s has unsupported media type %q", l.Digest, l.MediaType)
		}
	}
	return nil
}

// config returns the image config blob, from the content store when held.
func (r *Registry) config(ctx context.Context, rc *lazyRepo, d ocispec.Descriptor) ([]byte, error) {
	if b, err := r.cs.ReadAll(d.Digest, maxConfigSize); err == nil {
		return b, nil
	}
	if d.Size > maxConfigSize {
		return nil, errdefs.Invalid("image config %s is %d bytes, more than %d", d.Digest, d.Size, maxConfigSize)
	}
	c, err := rc.get(ctx)
	if err != nil {
		return nil, err
	}
	body, _, err := c.blob(ctx, d.Digest)
	if err != nil {
		return nil, classify(err, "image config "+d.Digest.String())
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxConfigSize+1))
	if err != nil {
		return nil, errdefs.Unavailable("reading image config %s: %v", d.Digest, err)
	}
	if got := d.Digest.Algorithm().FromBytes(b); got != d.Digest || int64(len(b)) != d.Size {
		return nil, errdefs.Invalid("image config verification failed: want %s (%d bytes), got %s (%d bytes)", d.Digest, d.Size, got, len(b))
	}
	return b, nil
}

// shortID is the 12 hex digits Docker shows for a layer.
func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// layers makes sure every layer of the image is unpacked: a layer already
// in the layer store is skipped ("Already exists"), one whose blob is in
// the content store is unpacked from there, and the rest are downloaded,
// Options.Parallel at a time. fetched reports whether anything was added.
func (r *Registry) layers(ctx context.Context, rc *lazyRepo, descs []ocispec.Descriptor, diffIDs []digest.Digest, p progress.Sink) (fetched bool, err error) {
	chain := layers.ChainIDs(diffIDs)
	var todo []int
	for i, d := range descs {
		if _, err := r.ls.Get(chain[i]); err == nil {
			p.Send(progress.Update(shortID(d.Digest), "Already exists"))
			continue
		}
		todo = append(todo, i)
		p.Send(progress.Update(shortID(d.Digest), "Pulling fs layer"))
	}
	if len(todo) == 0 {
		return false, nil
	}
	// Biggest first: with a few transfers at a time, starting the
	// longest jobs first finishes the whole set soonest (the longest-
	// processing-time rule). Only overlay layers unpack independently:
	// the native driver copies the parent, so a layer waits for it, and
	// bottom-first order keeps the lowest unfinished layers running.
	if snapshots.Name(r.ls.Snapshotter()) == snapshots.DriverOverlay {
		sort.SliceStable(todo, func(a, b int) bool { return descs[todo[a]].Size > descs[todo[b]].Size })
	}
	for _, i := range todo[min(len(todo), r.opts.Parallel):] {
		p.Send(progress.Update(shortID(descs[i].Digest), "Waiting"))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Parallel)
	for _, i := range todo {
		var parent digest.Digest
		if i > 0 {
			parent = chain[i-1]
		}
		d, diffID := descs[i], diffIDs[i]
		g.Go(func() error {
			err := r.layer(gctx, rc, d, diffID, parent, p)
			if err != nil && !strings.Contains(err.Error(), d.Digest.Encoded()) {
				// Name the layer unless the layer store already did.
				err = fmt.Errorf("layer %s: %w", d.Digest, err)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return true, err
	}
	return true, nil
}

// layer unpacks one layer, from the content store when its blob is there,
// else streaming it from the registry into both stores at once.
func (r *Registry) layer(ctx context.Context, rc *lazyRepo, d ocispec.Descriptor, diffID, parent digest.Digest, p progress.Sink) error {
	id := shortID(d.Digest)
	// One transfer per blob at a time: a concurrent pull of an image
	// that shares this layer waits here, then finds it done.
	unlock, err := r.blobs.lock(ctx, d.Digest)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := r.ls.Get(layers.ChainID(parent, diffID)); err == nil {
		p.Send(progress.Update(id, "Already exists"))
		return nil
	}
	if _, err := r.cs.Info(d.Digest); err == nil {
		if _, err := r.ls.Unpack(ctx, d, diffID, parent); err != nil {
			return err
		}
		p.Send(progress.Update(id, "Pull complete"))
		return nil
	}
	c, err := rc.get(ctx)
	if err != nil {
		return err
	}
	first, length, err := c.blob(ctx, d.Digest)
	if err != nil {
		return classify(err, "fetching blob")
	}
	body := c.resumingBlob(ctx, d.Digest, first, r.opts.StallTimeout, func(attempt int, err error) {
		p.Send(progress.Update(id, fmt.Sprintf("Retrying (%d of %d): %v", attempt, resumeAttempts, err)))
	})
	defer body.Close()
	if length >= 0 && length != d.Size {
		return errdefs.Invalid("the registry sent %d bytes, the manifest says %d", length, d.Size)
	}
	w, err := r.cs.Writer(d.Digest, d.Size)
	if err != nil {
		return err
	}
	defer w.Close()
	// The layer store hashes the blob as it unpacks it; the writer need
	// not hash it again (sha256 is half the CPU of a pull without SHA
	// instructions). Committed only when Apply read it all.
	if err := w.Trust(); err != nil {
		return err
	}
	// One pass over the network stream: the layer store decompresses,
	// untars and checks both digests while the content writer keeps the
	// compressed bytes. The limit stops a registry sending more than the
	// manifest promised; the excess then fails the digest.
	src := &netReader{r: progress.Reader(io.LimitReader(body, d.Size+1), p, id, "Downloading", d.Size)}
	blob := &blobSink{w: w}
	if _, err := r.ls.Apply(ctx, io.TeeReader(src, blob), d, diffID, parent); err != nil {
		if blob.err != nil {
			// The tee hands a failed write (a full disk) to the
			// unpacker as a read error, which it would call a bad tar.
			return fmt.Errorf("layer %s: %w", d.Digest, blob.err)
		}
		if src.err != nil && !errors.Is(src.err, io.EOF) {
			return errdefs.Unavailable("reading from the registry: %v", src.err)
		}
		return err
	}
	if !errors.Is(src.err, io.EOF) {
		// Apply found the layer unpacked (by a concurrent pull) and read
		// nothing: keep the blob through a writer that checks it.
		w.Close()
		if _, _, err := r.cs.Put(src, d.Digest, d.Size); err != nil {
			return fmt.Errorf("storing blob: %w", err)
		}
		p.Send(progress.Update(id, "Pull complete"))
		return nil
	}
	p.Send(progress.Update(id, "Verifying Checksum"))
	if _, err := w.Commit(); err != nil {
		return err
	}
	p.Send(progress.Update(id, "Download complete"))
	p.Send(progress.Update(id, "Pull complete"))
	return nil
}

// netReader remembers the error of the network side, so that a cut
// connection is reported as such rather than as the tar error it causes.
type netReader struct {
	r   io.Reader
	err error
}

func (n *netReader) Read(b []byte) (int, error) {
	c, err := n.r.Read(b)
	if err != nil && n.err == nil {
		n.err = err
	}
	return c, err
}

// blobSink remembers the error of the content writer, so that a blob
// that could not be stored (no space left) is reported as such rather
// than as the tar error it causes.
type blobSink struct {
	w   io.Writer
	err error
}

func (b *blobSink) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}

// lazyRepo connects to the repository on first use, once for all the
// layers of a pull.
type lazyRepo struct {
	r    *Registry
	n    reference.Named
	once sync.Once
	rc   *repoClient
	err  error
}

func (l *lazyRepo) get(ctx context.Context) (*repoClient, error) {
	l.once.Do(func() { l.rc, l.err = l.r.repo(ctx, l.n, "pull") })
	return l.rc, l.err
}

// keyedLock is a mutex per blob digest that a waiter can give up on.
type keyedLock struct {
	mu sync.Mutex
	m  map[digest.Digest]*keyEntry
}

type keyEntry struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters
}

func (k *keyedLock) lock(ctx context.Context, d digest.Digest) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[digest.Digest]*keyEntry{}
	}
	e := k.m[d]
	if e == nil {
		e = &keyEntry{ch: make(chan struct{}, 1)}
		k.m[d] = e
	}
	e.refs++
	k.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; k.drop(d, e) }, nil
	case <-ctx.Done():
		k.drop(d, e)
		return nil, ctx.Err()
	}
}

func (k *keyedLock) drop(d digest.Digest, e *keyEntry) {
	k.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(k.m, d)
	}
	k.mu.Unlock()
}
