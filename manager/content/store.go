// Package content is the manager's blob store: image manifests, configs and
// compressed layers, each kept under its digest (content/blobs/<alg>/<hex>).
//
// A blob becomes visible only once whole and verified: bytes go to a temp
// file in ingest/, the size and digest are checked, the file is fsynced and
// renamed into blobs/, and the directory is fsynced. A crash leaves at most a
// temp file in ingest/, which Open removes.
package content

import (
	_ "crypto/sha512" // sha384 and sha512 digests, which the OCI spec allows
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Store holds blobs under root. Its methods are safe for concurrent use.
type Store struct {
	root string
}

// Info describes a stored blob.
type Info struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// Open opens (creating when missing) the store at root and removes what an
// interrupted write left in root/ingest.
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	if err := os.MkdirAll(s.blobsDir(), 0o700); err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	// Nothing in ingest/ is referenced by anyone after a restart: writers
	// live only as long as the process that made them.
	if err := os.RemoveAll(s.ingestDir()); err != nil {
		return nil, fmt.Errorf("content store: clean ingest: %w", err)
	}
	if err := os.MkdirAll(s.ingestDir(), 0o700); err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) blobsDir() string  { return filepath.Join(s.root, "blobs") }
func (s *Store) ingestDir() string { return filepath.Join(s.root, "ingest") }

// BlobPath is where the blob d lives (whether or not it is present).
func (s *Store) BlobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", errdefs.Invalid("digest %q: %v", d, err)
	}
	return filepath.Join(s.blobsDir(), d.Algorithm().String(), d.Encoded()), nil
}

// Put stores everything r yields. expected may be "" and size -1 when
// unknown. It returns the digest and size of what was stored.
func (s *Store) Put(r io.Reader, expected digest.Digest, size int64) (digest.Digest, int64, error) {
	w, err := s.Writer(expected, size)
	if err != nil {
		return "", 0, err
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", nameOf(expected), err)
	}
	d, err := w.Commit()
	if err != nil {
		return "", 0, err
	}
	return d, w.Size(), nil
}

// Open opens the blob d for reading.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	p, err := s.BlobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound("blob %s: not found", d)
		}
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return f, nil
}

// ReadAll reads a small blob (a manifest, an index, a config) whole and
// checks its digest. It refuses a blob larger than max bytes.
func (s *Store) ReadAll(d digest.Digest, max int64) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if st.Size() > max {
		return nil, errdefs.Invalid("blob %s: %d bytes, more than the %d allowed", d, st.Size(), max)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	// The file is ours, but a disk can rot and a hand can edit: a manifest
	// that does not match its name must not be believed.
	if got := d.Algorithm().FromBytes(b); got != d {
		return nil, fmt.Errorf("blob %s: content has digest %s: %w", d, got, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

// Info describes the blob d.
func (s *Store) Info(d digest.Digest) (Info, error) {
	p, err := s.BlobPath(d)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, errdefs.NotFound("blob %s: not found", d)
		}
		return Info{}, fmt.Errorf("blob %s: %w", d, err)
	}
	return Info{Digest: d, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the blob d.
func (s *Store) Delete(d digest.Digest) error {
	p, err := s.BlobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errdefs.NotFound("blob %s: not found", d)
		}
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every blob in the store, algorithm by algorithm, in
// name order. A file whose name is not a valid digest is skipped.
func (s *Store) Walk(fn func(Info) error) error {
	algs, err := os.ReadDir(s.blobsDir())
	if err != nil {
		return fmt.Errorf("content store: %w", err)
	}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		alg := digest.Algorithm(a.Name())
		if !alg.Available() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(s.blobsDir(), a.Name()))
		if err != nil {
			return fmt.Errorf("content store: %w", err)
		}
		for _, e := range ents {
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if d.Validate() != nil || !e.Type().IsRegular() {
				continue
			}
			st, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted while we walked
				}
				return fmt.Errorf("blob %s: %w", d, err)
			}
			if err := fn(Info{Digest: d, Size: st.Size(), ModTime: st.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

func nameOf(d digest.Digest) string {
	if d == "" {
		return "(unknown digest)"
	}
	return d.String()
}
