// Package layers is the layer store: every layer is unpacked once, into a
// committed snapshot named by its chain ID, and shared by all the images
// that hold it. Apply streams a compressed blob through decompression and
// tar extraction straight into the snapshot while checking both the blob
// digest and the diff ID, so no temp copy of the blob is needed.
package layers

import (
	"context"
	"crypto/rand"
	_ "crypto/sha512" // sha384 and sha512 digests, which the OCI spec allows
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// tempPrefix starts the key of a snapshot being unpacked. Cleanup removes
// any left by a crash.
const tempPrefix = "unpack-"

// Store is the layer store. Its methods are safe for concurrent use.
type Store struct {
	db *metadata.DB
	cs *content.Store
	sn snapshots.Snapshotter

	mu       sync.Mutex
	inflight map[digest.Digest]*call
	changed  chan struct{}              // closed and replaced whenever an Apply ends
	orphans  map[digest.Digest]struct{} // snapshots left without a record (orphans.go)
}

// call is one Apply in progress; others for the same chain ID wait on it.
type call struct {
	done  chan struct{}
	layer *metadata.Layer
	err   error
}

// NewStore returns the layer store over db, cs and sn.
func NewStore(db *metadata.DB, cs *content.Store, sn snapshots.Snapshotter) *Store {
	return &Store{db: db, cs: cs, sn: sn, inflight: map[digest.Digest]*call{}, changed: make(chan struct{})}
}

// Snapshotter returns the driver the store unpacks into.
func (s *Store) Snapshotter() snapshots.Snapshotter { return s.sn }

// ChainID is the chain ID of a layer with diff ID diffID on top of the
// layer with chain ID parent ("" for a base layer), as the OCI image spec
// defines it.
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// ChainIDs returns the chain IDs of a stack of layers, bottom first.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	var parent digest.Digest
	for i, d := range diffIDs {
		parent = ChainID(parent, d)
		out[i] = parent
	}
	return out
}

// Get returns the layer chainID when it is usable: recorded, and unpacked
// in the current driver (a record whose snapshot is missing, say after a
// change of --storage-driver, is ErrNotFound, so callers unpack it again).
func (s *Store) Get(chainID digest.Digest) (*metadata.Layer, error) {
	var l *metadata.Layer
	err := s.db.View(context.Background(), func(tx *metadata.Tx) error {
		var err error
		l, err = tx.GetLayer(chainID)
		return err
	})
	if err != nil {
		return nil, err
	}
	info, err := s.sn.Stat(chainID.String())
	if err != nil || info.Kind != snapshots.KindCommitted {
		return nil, errdefs.NotFound("layer %s: not unpacked in the %s driver", chainID, snapshots.Name(s.sn))
	}
	return l, nil
}

// present returns the layer when both its record and its committed
// snapshot exist.
func (s *Store) present(chainID digest.Digest) (*metadata.Layer, bool) {
	l, err := s.Get(chainID)
	return l, err == nil
}

// Apply unpacks the layer blob read from compressed (described by d) on top
// of the layer parent (a chain ID, "" for a base layer) and records it.
//
// The blob is decompressed, untarred into a temp snapshot and hashed in
// one pass; its digest and size (when d gives them) and the digest of the
// uncompressed tar (diffID) must match, or nothing is kept and the error
// is an ErrInvalidArgument. compressed is read to its end on success, so a
// caller may tee it into a content writer and commit that afterwards.
//
// Already unpacked: the layer is returned at once and compressed is not
// read. Concurrent calls for one chain ID do the work once. With the
// overlay driver the parent need not be unpacked yet (an image's layers
// can be applied in parallel); with the native driver Apply waits for the
// parent to be applied by another call, until ctx ends.
func (s *Store) Apply(ctx context.Context, compressed io.Reader, d ocispec.Descriptor, diffID, parent digest.Digest) (*metadata.Layer, error) {
	if err := diffID.Validate(); err != nil {
		return nil, errdefs.Invalid("layer diff id %q: %v", diffID, err)
	}
	if parent != "" {
		if err := parent.Validate(); err != nil {
			return nil, errdefs.Invalid("layer parent %q: %v", parent, err)
		}
	}
	if d.Digest != "" {
		if err := d.Digest.Validate(); err != nil {
			return nil, errdefs.Invalid("layer blob digest %q: %v", d.Digest, err)
		}
	}
	chainID := ChainID(parent, diffID)
	for {
		if l, ok := s.present(chainID); ok {
			return l, nil
		}
		s.mu.Lock()
		if c, ok := s.inflight[chainID]; ok {
			s.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if c.err == nil {
				return c.layer, nil
			}
			continue // that attempt failed: this one has a stream of its own
		}
		c := &call{done: make(chan struct{})}
		s.inflight[chainID] = c
		s.mu.Unlock()

		c.layer, c.err = s.apply(ctx, compressed, d, diffID, parent, chainID)

		s.mu.Lock()
		delete(s.inflight, chainID)
		s.dropOrphansLocked()
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		close(c.done)
		return c.layer, c.err
	}
}

func (s *Store) apply(ctx context.Context, compressed io.Reader, d ocispec.Descriptor, diffID, parent, chainID digest.Digest) (_ *metadata.Layer, err error) {
	key := tempPrefix + chainID.Encoded()[:12] + "-" + randomSuffix()
	if err := s.prepareTemp(ctx, key, parent); err != nil {
		return nil, fmt.Errorf("layer %s: %w", diffID, err)
	}
	committed := false
	defer func() {
		if !committed {
			if rerr := s.sn.Remove(key); rerr != nil && !errdefs.IsNotFound(rerr) {
				err = errors.Join(err, fmt.Errorf("layer %s: remove temp snapshot: %w", diffID, rerr))
			}
		}
	}()
	dir, wo, err := s.sn.Dir(key)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", diffID, err)
	}

	alg := digest.Canonical
	if d.Digest != "" {
		alg = d.Digest.Algorithm()
	}
	size, blob, blobSize, err := unpack(ctx, dir, wo, compressed, alg, diffID)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", layerName(d, diffID), err)
	}
	if d.Digest != "" && blob != d.Digest {
		return nil, errdefs.Invalid("layer %s: digest mismatch: the blob has digest %s", d.Digest, blob)
	}
	if d.Size > 0 && blobSize != d.Size {
		return nil, errdefs.Invalid("layer %s: size mismatch: the blob is %d bytes, expected %d", layerName(d, diffID), blobSize, d.Size)
	}

	return s.record(ctx, key, &committed, &metadata.Layer{
		ChainID: chainID, DiffID: diffID, Parent: parent,
		Blob: blob, BlobMediaType: d.MediaType, BlobSize: blobSize, Size: size,
	})
}

// unpack streams compressed through decompression into Apply, hashing the
// compressed bytes (with alg) and the tar (with diffID's
// algorithm). It reads compressed to its end.
func unpack(ctx context.Context, dir string, wo archive.Whiteouts, compressed io.Reader, alg digest.Algorithm, diffID digest.Digest) (size int64, blob digest.Digest, blobSize int64, err error) {
	blobHash := newAsyncDigester(alg)
	defer blobHash.stop()
	counted := &countingReader{r: archive.ContextReader(ctx, compressed)}
	raw := io.TeeReader(counted, blobHash)
	dec, err := archive.Decompress(raw)
	if err != nil {
		return 0, "", 0, err
	}
	defer dec.Close()
	diffHash := newAsyncDigester(diffID.Algorithm())
	defer diffHash.stop()
	tarStream := io.TeeReader(dec, diffHash)
	size, err = archive.Apply(dir, tarStream, wo)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", 0, ctx.Err()
		}
		return 0, "", 0, err
	}
	// The tar's end-of-archive blocks and any padding count for the diff
	// ID; whatever trails the compressed stream counts for the blob.
	if _, err := io.Copy(io.Discard, tarStream); err != nil {
		return 0, "", 0, errdefs.Invalid("read layer: %v", err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return 0, "", 0, errdefs.Invalid("read layer: %v", err)
	}
	if got := diffHash.Digest(); got != diffID {
		return 0, "", 0, errdefs.Invalid("diff id mismatch: the uncompressed layer has digest %s, the image config says %s", got, diffID)
	}
	return size, blobHash.Digest(), counted.n, nil
}

// waitFor waits until the layer chainID is unpacked (by another Apply).
func (s *Store) waitFor(ctx context.Context, chainID digest.Digest) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if _, ok := s.present(chainID); ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("not unpacked: %w", ctx.Err())
		}
	}
}

// Unpack applies a layer whose blob is in the content store.
func (s *Store) Unpack(ctx context.Context, d ocispec.Descriptor, diffID, parent digest.Digest) (*metadata.Layer, error) {
	if l, ok := s.present(ChainID(parent, diffID)); ok {
		return l, nil
	}
	f, err := s.cs.Open(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer f.Close()
	return s.Apply(ctx, f, d, diffID, parent)
}

// Remove deletes the layer chainID and its snapshot. It refuses
// (ErrConflict) while an image, a child layer or a snapshot (a container's)
// uses it, or while it is being unpacked.
func (s *Store) Remove(chainID digest.Digest) error {
	s.mu.Lock()
	_, busy := s.inflight[chainID]
	s.mu.Unlock()
	if busy {
		return errdefs.Conflict("layer %s is being unpacked", chainID)
	}
	return s.db.Update(context.Background(), func(tx *metadata.Tx) error {
		if err := tx.DeleteLayer(chainID); err != nil {
			return err
		}
		// Inside the transaction: if the snapshot cannot go, the record
		// stays. A crash after this leaves a record without a snapshot,
		// which Cleanup removes.
		if err := s.sn.Remove(chainID.String()); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("layer %s: %w", chainID, err)
		}
		return nil
	})
}

// Mounts prepares the snapshot key on top of the layer chainID (a
// container's root file system: writable, or a read-only view) and
// returns its mounts. When key exists on that layer already, its mounts
// are returned.
func (s *Store) Mounts(key string, chainID digest.Digest, readonly bool) ([]snapshots.Mount, error) {
	if strings.HasPrefix(key, tempPrefix) || digest.Digest(key).Validate() == nil {
		return nil, errdefs.Invalid("snapshot key %q is reserved for layers", key)
	}
	if chainID != "" {
		if _, ok := s.present(chainID); !ok {
			return nil, errdefs.NotFound("layer %s: not found", chainID)
		}
	}
	if info, err := s.sn.Stat(key); err == nil {
		if info.Parent != chainID.String() {
			return nil, errdefs.Conflict("snapshot %s exists on another layer (%s)", key, info.Parent)
		}
		return s.sn.Mounts(key)
	}
	if readonly {
		return s.sn.View(key, chainID.String())
	}
	return s.sn.Prepare(key, chainID.String())
}

// Cleanup removes what a crash left: temp snapshots of unfinished unpacks,
// layer snapshots without a record, and records without a snapshot that
// nothing uses. Run it at start-up, before any Apply.
func (s *Store) Cleanup(ctx context.Context) error {
	var layers []*metadata.Layer
	if err := s.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		layers, err = tx.ListLayers()
		return err
	}); err != nil {
		return fmt.Errorf("layer cleanup: %w", err)
	}
	known := map[string]bool{}
	for _, l := range layers {
		known[l.ChainID.String()] = true
	}
	var errs []error
	// Children before parents: loop while something goes.
	for removed := true; removed; {
		removed = false
		var victims []string
		committed := map[string]bool{}
		err := s.sn.Walk(func(i snapshots.Info) error {
			switch {
			case strings.HasPrefix(i.Key, tempPrefix):
				victims = append(victims, i.Key)
			case i.Kind == snapshots.KindCommitted && digest.Digest(i.Key).Validate() == nil && !known[i.Key]:
				victims = append(victims, i.Key)
			case i.Kind == snapshots.KindCommitted:
				committed[i.Key] = true
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("layer cleanup: %w", err)
		}
		for _, k := range victims {
			if err := s.sn.Remove(k); err == nil {
				removed = true
			} else if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		if removed {
			continue
		}
		// Records whose snapshot is gone.
		for _, l := range layers {
			if committed[l.ChainID.String()] || !known[l.ChainID.String()] {
				continue
			}
			err := s.db.Update(ctx, func(tx *metadata.Tx) error { return tx.DeleteLayer(l.ChainID) })
			if err == nil {
				known[l.ChainID.String()] = false
				removed = true
			} else if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("layer cleanup: %w", errors.Join(errs...))
	}
	return nil
}

func layerName(d ocispec.Descriptor, diffID digest.Digest) string {
	if d.Digest != "" {
		return d.Digest.String()
	}
	return diffID.String()
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
