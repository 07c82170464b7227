package layers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// ApplyTar unpacks a layer whose diff ID is not known in advance (a rootfs
// tarball being imported) on top of the layer parent, in one pass over r:
// the tar (plain, or compressed as archive.Decompress reads it) is
// untarred into a temp snapshot while its diff ID is computed, and its
// blob goes to the content store on the way: a gzip input byte for byte,
// anything else gzipped on the fly with pgzip (fastest level: the blob
// only has to be valid for a push). blobMediaType is the media type
// recorded for that gzip blob.
//
// The chain ID is known only at the end, so the temp snapshot is then
// committed under it (with overlay a rename of metadata), or dropped when
// that layer is unpacked already. It returns the layer and the descriptor
// of the blob this call stored, which an image built on it should name
// (an existing layer's record may name another blob of the same tar).
// Nothing is kept on failure: bad input is an ErrInvalidArgument.
func (s *Store) ApplyTar(ctx context.Context, r io.Reader, parent digest.Digest, blobMediaType string) (_ *metadata.Layer, _ ocispec.Descriptor, err error) {
	var none ocispec.Descriptor
	if parent != "" {
		if err := parent.Validate(); err != nil {
			return nil, none, errdefs.Invalid("layer parent %q: %v", parent, err)
		}
	}
	key := tempPrefix + "tar-" + randomSuffix()
	if err := s.prepareTemp(ctx, key, parent); err != nil {
		return nil, none, fmt.Errorf("layer tar: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			if rerr := s.sn.Remove(key); rerr != nil && !errdefs.IsNotFound(rerr) {
				err = errors.Join(err, fmt.Errorf("layer tar: remove temp snapshot: %w", rerr))
			}
		}
	}()
	dir, wo, err := s.sn.Dir(key)
	if err != nil {
		return nil, none, fmt.Errorf("layer tar: %w", err)
	}
	cw, err := s.cs.Writer("", -1)
	if err != nil {
		return nil, none, fmt.Errorf("layer tar: %w", err)
	}
	defer cw.Close() // aborts unless committed

	br := bufio.NewReaderSize(archive.ContextReader(ctx, r), 1<<20)
	head, err := br.Peek(8)
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return nil, none, readErr(ctx, err)
		}
		return nil, none, errdefs.Invalid("layer tar: the tarball is empty")
	}
	// raw is what must be read to its end: for a gzip input it also feeds
	// the blob (bytes after the gzip stream included).
	var raw io.Reader = br
	var gz *pgzip.Writer
	var tarStream io.Reader
	if archive.Detect(head) == archive.Gzip {
		raw = io.TeeReader(br, cw)
		dec, err := archive.Decompress(raw)
		if err != nil {
			return nil, none, errdefs.Invalid("layer tar: %v", err)
		}
		defer dec.Close()
		tarStream = dec
	} else {
		dec, err := archive.Decompress(br)
		if err != nil {
			return nil, none, errdefs.Invalid("layer tar: %v", err)
		}
		defer dec.Close()
		if gz, err = pgzip.NewWriterLevel(cw, pgzip.BestSpeed); err != nil {
			return nil, none, fmt.Errorf("layer tar: %w", err)
		}
		defer gz.Close()
		tarStream = io.TeeReader(dec, gz)
	}
	diffHash := newAsyncDigester(digest.SHA256)
	defer diffHash.stop()
	hashed := io.TeeReader(tarStream, diffHash)
	size, err := archive.Apply(dir, hashed, wo)
	if err != nil {
		if ctx.Err() != nil {
			return nil, none, ctx.Err()
		}
		return nil, none, fmt.Errorf("layer tar: %w", err)
	}
	// The tar's end-of-archive blocks and padding count for the diff ID
	// and belong in the blob; so does whatever trails a gzip stream.
	if _, err := io.Copy(io.Discard, hashed); err != nil {
		return nil, none, readErr(ctx, err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return nil, none, readErr(ctx, err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return nil, none, fmt.Errorf("layer tar: compress: %w", err)
		}
	}
	diffID := diffHash.Digest()
	blobDigest, err := cw.Commit()
	if err != nil {
		return nil, none, fmt.Errorf("layer tar %s: store blob: %w", diffID, err)
	}
	blob := ocispec.Descriptor{MediaType: blobMediaType, Digest: blobDigest, Size: cw.Size()}

	l, err := s.commitTemp(ctx, key, &committed, &metadata.Layer{
		ChainID: ChainID(parent, diffID), DiffID: diffID, Parent: parent,
		Blob: blob.Digest, BlobMediaType: blob.MediaType, BlobSize: blob.Size, Size: size,
	})
	if err != nil {
		return nil, none, err
	}
	return l, blob, nil
}

// prepareTemp makes the active snapshot key on parent to unpack into:
// with overlay at once, with the native driver once parent is unpacked.
func (s *Store) prepareTemp(ctx context.Context, key string, parent digest.Digest) error {
	if u, ok := s.sn.(snapshots.Unlinked); ok {
		return u.PrepareUnlinked(key, parent.String())
	}
	if parent != "" {
		if err := s.waitFor(ctx, parent); err != nil {
			return fmt.Errorf("parent %s: %w", parent, err)
		}
	}
	_, err := s.sn.Prepare(key, parent.String())
	return err
}

// commitTemp makes the unpacked temp snapshot key the layer l (whose
// chain ID was learnt while unpacking) and records it, setting *committed
// once key is gone. When that layer exists already (or another call is
// making it) the existing one is returned and key is left to the caller
// to remove; an existing record that names no blob gets l's.
func (s *Store) commitTemp(ctx context.Context, key string, committed *bool, l *metadata.Layer) (*metadata.Layer, error) {
	for {
		if old, ok := s.present(l.ChainID); ok {
			if old.Blob != "" {
				return old, nil
			}
			err := s.db.Update(ctx, func(tx *metadata.Tx) error {
				rec, err := tx.GetLayer(l.ChainID)
				if err != nil {
					return err
				}
				rec.Blob, rec.BlobMediaType, rec.BlobSize = l.Blob, l.BlobMediaType, l.BlobSize
				old = rec
				return tx.PutLayer(rec)
			})
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.DiffID, err)
			}
			return old, nil
		}
		s.mu.Lock()
		if c, ok := s.inflight[l.ChainID]; ok {
			s.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue // present now, or that attempt failed and ours goes in
		}
		c := &call{done: make(chan struct{})}
		s.inflight[l.ChainID] = c
		s.mu.Unlock()

		c.layer, c.err = s.record(ctx, key, committed, l)

		s.mu.Lock()
		delete(s.inflight, l.ChainID)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		close(c.done)
		return c.layer, c.err
	}
}

// record commits key as the snapshot l.ChainID and writes l's record.
func (s *Store) record(ctx context.Context, key string, committed *bool, l *metadata.Layer) (*metadata.Layer, error) {
	switch err := s.sn.Commit(l.ChainID.String(), key); {
	case err == nil:
		*committed = true
	case errors.Is(err, errdefs.ErrAlreadyExists):
		// Left by a crash between commit and record: same chain ID, same
		// content. Keep that one, drop ours.
	default:
		return nil, fmt.Errorf("layer %s: %w", l.DiffID, err)
	}
	if err := s.db.Update(ctx, func(tx *metadata.Tx) error { return tx.PutLayer(l) }); err != nil {
		if *committed {
			s.removeOrphan(l.ChainID)
		}
		return nil, fmt.Errorf("layer %s: %w", l.DiffID, err)
	}
	return l, nil
}

// readErr is the error of a failed read of the layer stream.
func readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errdefs.Invalid("read layer: %v", err)
}
