package images

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// gcState coordinates garbage collection with the writers that add blobs
// and layers before the image that will own them is registered (a pull, a
// load, an import). Such a writer holds a lease; while any lease is held GC
// does not run but is remembered, and the last lease released runs it.
type gcState struct {
	mu      sync.Mutex
	cond    *sync.Cond
	leases  int
	running bool
	pending bool
}

// Lease protects the blobs and layers its holder is adding from garbage
// collection until release is called. Hold one from the first blob written
// until Register has returned. Lease waits while a collection runs.
// release may be called more than once.
func (s *Service) Lease() (release func()) {
	g := &s.gc
	g.mu.Lock()
	for g.running {
		g.cond.Wait()
	}
	g.leases++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.leases--
			run := g.leases == 0 && g.pending && !g.running
			if run {
				g.pending, g.running = false, true
			}
			g.mu.Unlock()
			if run {
				// Errors here have no caller to go to; the next
				// collection (rmi, prune, start-up) retries.
				s.collect(context.Background())
				s.endGC()
			}
		})
	}
}

// beginGC claims the right to collect, or records that a collection is due
// when leases are held or one is running.
func (s *Service) beginGC() bool {
	g := &s.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.leases > 0 || g.running {
		g.pending = true
		return false
	}
	g.running = true
	return true
}

func (s *Service) endGC() {
	g := &s.gc
	g.mu.Lock()
	g.running = false
	// A request that came while we ran may have freed more.
	again := g.pending && g.leases == 0
	if again {
		g.pending, g.running = false, true
	}
	g.cond.Broadcast()
	g.mu.Unlock()
	if again {
		s.collect(context.Background())
		s.endGC()
	}
}

// GC removes the layers and blobs that no image references and returns
// the bytes freed. When a pull, load or import holds a lease, it removes
// nothing now and runs when the last lease is released.
func (s *Service) GC(ctx context.Context) (reclaimed int64, err error) {
	res, err := s.runGC(ctx)
	return res.reclaimed, err
}

type gcResult struct {
	layers    map[digest.Digest]bool // chain IDs removed
	reclaimed int64
}

// runGC collects now if it may and tells which layers went.
func (s *Service) runGC(ctx context.Context) (gcResult, error) {
	if !s.beginGC() {
		return gcResult{layers: map[digest.Digest]bool{}}, nil
	}
	defer s.endGC()
	return s.collect(ctx)
}

// collect is the mark and sweep. Roots are the images: their manifests
// and the layer blobs these name, configs, repo digests' blobs (the index a
// multi-platform image was pulled by) and layer chains. Layers go first,
// children before parents, then blobs.
func (s *Service) collect(ctx context.Context) (gcResult, error) {
	res := gcResult{layers: map[digest.Digest]bool{}}
	liveLayers := map[digest.Digest]bool{}
	liveBlobs := map[digest.Digest]bool{}
	var all []*metadata.Layer
	var manifests []digest.Digest
	err := s.db.View(ctx, func(tx *metadata.Tx) error {
		imgs, err := tx.ListImages()
		if err != nil {
			return err
		}
		for _, img := range imgs {
			liveBlobs[img.ID] = true
			if img.ManifestDigest != "" {
				liveBlobs[img.ManifestDigest] = true
				manifests = append(manifests, img.ManifestDigest)
			}
			for _, l := range img.Layers {
				liveLayers[digest.Digest(l)] = true
			}
		}
		rds, err := tx.ListRepoDigests()
		if err != nil {
			return err
		}
		for _, rd := range rds {
			if _, d, ok := cutDigest(rd.Name); ok {
				liveBlobs[d] = true
			}
		}
		all, err = tx.ListLayers()
		return err
	})
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	// A manifest's layer blobs are what a push sends; they may differ from
	// the blob a layer was first unpacked from (a layer loaded from a
	// docker archive, then pulled gzipped).
	for _, d := range manifests {
		if err := s.markManifestLayers(d, liveBlobs); err != nil {
			return res, fmt.Errorf("gc: %w", err)
		}
	}
	byID := map[digest.Digest]*metadata.Layer{}
	for _, l := range all {
		byID[l.ChainID] = l
	}
	// A live layer keeps its parents live, even if (after a crash) no
	// image lists them.
	for id := range liveLayers {
		for l := byID[id]; l != nil && l.Parent != ""; l = byID[l.Parent] {
			liveLayers[l.Parent] = true
		}
	}
	var dead []*metadata.Layer
	for _, l := range all {
		if liveLayers[l.ChainID] {
			if l.Blob != "" {
				liveBlobs[l.Blob] = true
			}
			continue
		}
		dead = append(dead, l)
	}
	depth := func(l *metadata.Layer) int {
		n := 0
		for p := l; p != nil && p.Parent != "" && n <= len(all); p = byID[p.Parent] {
			n++
		}
		return n
	}
	sort.SliceStable(dead, func(i, j int) bool { return depth(dead[i]) > depth(dead[j]) })
	var errs []error
	for _, l := range dead {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		switch err := s.ls.Remove(l.ChainID); {
		case err == nil:
			res.layers[l.ChainID] = true
			res.reclaimed += l.Size
		case errdefs.IsNotFound(err):
		case errdefs.IsConflict(err):
			// Still someone's parent; its blob stays with it.
			if l.Blob != "" {
				liveBlobs[l.Blob] = true
			}
		default:
			errs = append(errs, err)
			if l.Blob != "" {
				liveBlobs[l.Blob] = true
			}
		}
	}
	err = s.cs.Walk(func(info content.Info) error {
		if liveBlobs[info.Digest] {
			return nil
		}
		switch err := s.cs.Delete(info.Digest); {
		case err == nil:
			res.reclaimed += info.Size
		case errdefs.IsNotFound(err):
		default:
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("gc: %w", errs[0])
	}
	return res, nil
}

// cutDigest splits "name@alg:hex".
func cutDigest(name string) (string, digest.Digest, bool) {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '@' {
			d := digest.Digest(name[i+1:])
			return name[:i], d, d.Validate() == nil
		}
	}
	return name, "", false
}

// markManifestLayers marks the layer blobs the manifest m names. A missing
// manifest marks nothing (the image cannot be pushed anyway); an unreadable
// one stops the collection, since what it names is unknown.
func (s *Service) markManifestLayers(m digest.Digest, live map[digest.Digest]bool) error {
	b, err := s.cs.ReadAll(m, maxConfigSize)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var mf ocispec.Manifest
	if err := json.Unmarshal(b, &mf); err != nil {
		return fmt.Errorf("manifest %s: %w", m, err)
	}
	for _, l := range mf.Layers {
		live[l.Digest] = true
	}
	return nil
}
