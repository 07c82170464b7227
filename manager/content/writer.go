package content

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Writer receives one blob. Write to it, then Commit; Close aborts an
// uncommitted write and removes its temp file. It is not safe for
// concurrent use.
type Writer struct {
	s        *Store
	f        *os.File
	digester digest.Digester
	expected digest.Digest
	want     int64 // -1: unknown
	n        int64
	done     bool
	trusted  bool  // Trust: no hashing, Commit takes expected as given
	err      error // first write error; Commit reports it
}

// Writer starts a blob. expected may be "" (the digest is computed with
// sha256) and size -1 when unknown; whatever is given is checked at Commit.
func (s *Store) Writer(expected digest.Digest, size int64) (*Writer, error) {
	alg := digest.Canonical
	if expected != "" {
		if err := expected.Validate(); err != nil {
			return nil, errdefs.Invalid("digest %q: %v", expected, err)
		}
		alg = expected.Algorithm()
	}
	if size < -1 {
		return nil, errdefs.Invalid("blob %s: size %d", nameOf(expected), size)
	}
	f, err := os.CreateTemp(s.ingestDir(), "blob-*")
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", nameOf(expected), err)
	}
	return &Writer{s: s, f: f, digester: alg.Digester(), expected: expected, want: size}, nil
}

// Write appends p to the blob. Writing past a known size fails at once so
// that a lying server cannot fill the disk.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("blob %s: write after commit or close", nameOf(w.expected))
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.want >= 0 && w.n+int64(len(p)) > w.want {
		w.err = errdefs.Invalid("blob %s: more than the expected %d bytes", nameOf(w.expected), w.want)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	if !w.trusted {
		w.digester.Hash().Write(p[:n])
	}
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("blob %s: %w", nameOf(w.expected), err)
		return n, w.err
	}
	return n, nil
}

// Trust turns off hashing for a caller that verifies the same bytes
// itself (a pull tees a layer into the writer while the layer store
// hashes it as it unpacks): Commit then takes the expected digest as
// given and checks only the size. It needs an expected digest and size
// and must come before the first Write. (Added by M3 for the pull path:
// sha256 is half of a pull's CPU on machines without SHA extensions.)
func (w *Writer) Trust() error {
	if w.expected == "" || w.want < 0 || w.n > 0 {
		return errdefs.Invalid("blob %s: Trust needs an expected digest and size, before any write", nameOf(w.expected))
	}
	w.trusted = true
	return nil
}

// Digest is the digest of the bytes written so far.
func (w *Writer) Digest() digest.Digest { return w.digester.Digest() }

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Commit checks the size and digest (when they were given), makes the blob
// durable and visible, and returns its digest. A blob already present counts
// as success. A mismatch is an ErrInvalidArgument and discards the bytes.
func (w *Writer) Commit() (digest.Digest, error) {
	if w.done {
		return "", fmt.Errorf("blob %s: already committed or closed", nameOf(w.expected))
	}
	defer w.Close()
	if w.err != nil {
		return "", w.err
	}
	if w.want >= 0 && w.n != w.want {
		return "", errdefs.Invalid("blob %s: got %d bytes, expected %d", nameOf(w.expected), w.n, w.want)
	}
	d := w.digester.Digest()
	if w.trusted {
		d = w.expected
	}
	if w.expected != "" && d != w.expected {
		return "", errdefs.Invalid("blob %s: content has digest %s", w.expected, d)
	}
	target, err := w.s.BlobPath(d)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(target); err == nil {
		return d, nil // someone else stored the same bytes first
	}
	if err := w.f.Sync(); err != nil {
		return "", fmt.Errorf("blob %s: sync: %w", d, err)
	}
	if err := w.f.Chmod(0o444); err != nil {
		return "", fmt.Errorf("blob %s: %w", d, err)
	}
	if err := w.f.Close(); err != nil {
		return "", fmt.Errorf("blob %s: close: %w", d, err)
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("blob %s: %w", d, err)
	}
	if err := os.Rename(w.f.Name(), target); err != nil {
		return "", fmt.Errorf("blob %s: %w", d, err)
	}
	w.done = true
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("blob %s: sync directory: %w", d, err)
	}
	return d, nil
}

// Close aborts the write unless it was committed. It may be called more
// than once.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: remove temp file: %w", nameOf(w.expected), err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
