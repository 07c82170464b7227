package content

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutAndRead(t *testing.T) {
	s := open(t)
	data := []byte(`{"schemaVersion":2}`)
	want := digest.FromBytes(data)
	for _, tc := range []struct {
		name     string
		expected digest.Digest
		size     int64
		err      error
	}{
		{"known digest and size", want, int64(len(data)), nil},
		{"unknown digest and size", "", -1, nil},
		{"already present", want, -1, nil},
		{"wrong digest", digest.FromString("other"), -1, errdefs.ErrInvalidArgument},
		{"too short", want, int64(len(data)) + 1, errdefs.ErrInvalidArgument},
		{"too long", want, int64(len(data)) - 1, errdefs.ErrInvalidArgument},
		{"bad digest", "sha256:nothex", -1, errdefs.ErrInvalidArgument},
		{"bad size", "", -2, errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, n, err := s.Put(bytes.NewReader(data), tc.expected, tc.size)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Put = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || d != want || n != int64(len(data)) {
				t.Fatalf("Put = %s %d %v", d, n, err)
			}
		})
	}
	got, err := s.ReadAll(want, 1<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := s.ReadAll(want, 3); !errdefs.IsInvalidArgument(err) {
		t.Errorf("ReadAll over max = %v, want invalid argument", err)
	}
	info, err := s.Info(want)
	if err != nil || info.Size != int64(len(data)) || info.Digest != want {
		t.Errorf("Info = %+v, %v", info, err)
	}
	// Failed writes leave nothing in ingest.
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Errorf("ingest holds %d leftovers", len(ents))
	}
	var walked []digest.Digest
	if err := s.Walk(func(i Info) error { walked = append(walked, i.Digest); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(walked) != 1 || walked[0] != want {
		t.Errorf("Walk = %v", walked)
	}
	if err := s.Delete(want); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(want); !errdefs.IsNotFound(err) {
		t.Errorf("Open after Delete = %v", err)
	}
	if err := s.Delete(want); !errdefs.IsNotFound(err) {
		t.Errorf("second Delete = %v", err)
	}
	if _, err := s.Info(want); !errdefs.IsNotFound(err) {
		t.Errorf("Info after Delete = %v", err)
	}
}

func TestWriterNeverHalfVisible(t *testing.T) {
	s := open(t)
	data := strings.Repeat("x", 1<<20)
	d := digest.FromString(data)
	w, err := s.Writer(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, data[:1000])
	if _, err := s.Info(d); !errdefs.IsNotFound(err) {
		t.Fatalf("blob visible before commit: %v", err)
	}
	if w.Size() != 1000 {
		t.Errorf("Size = %d", w.Size())
	}
	io.WriteString(w, data[1000:])
	if w.Digest() != d {
		t.Errorf("Digest = %s", w.Digest())
	}
	if _, err := w.Write([]byte("more")); !errdefs.IsInvalidArgument(err) {
		t.Errorf("write past the size = %v", err)
	}
	if _, err := w.Commit(); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Commit after an overlong write = %v", err)
	}
	if _, err := s.Info(d); !errdefs.IsNotFound(err) {
		t.Fatalf("a refused blob is visible: %v", err)
	}
	// Abort with Close.
	w, _ = s.Writer("", -1)
	io.WriteString(w, "abandoned")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Errorf("ingest holds %d leftovers after Close", len(ents))
	}
}

func TestOpenCleansIngest(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.Writer("", -1)
	io.WriteString(w, "killed mid-pull") // never committed nor closed: a crash
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "ingest")); len(ents) != 0 {
		t.Errorf("Open left %d files in ingest", len(ents))
	}
}

func TestReadAllDetectsCorruption(t *testing.T) {
	s := open(t)
	d, _, err := s.Put(strings.NewReader("manifest"), "", -1)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.BlobPath(d)
	os.Chmod(p, 0o644)
	os.WriteFile(p, []byte("tampered"), 0o644)
	if _, err := s.ReadAll(d, 100); !errdefs.IsInvalidArgument(err) {
		t.Errorf("ReadAll of a corrupt blob = %v", err)
	}
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	s := open(t)
	data := strings.Repeat("layer", 100000)
	d := digest.FromString(data)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Put(strings.NewReader(data), d, int64(len(data)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got, err := s.ReadAll(d, 1<<30)
	if err != nil || string(got) != data {
		t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
	}
}

// Trust (for a caller that verifies the bytes itself) skips hashing but
// still checks the size, and needs the digest and size up front.
func TestTrust(t *testing.T) {
	s := open(t)
	data := "verified elsewhere"
	d := digest.FromString(data)
	for _, tc := range []struct {
		name     string
		expected digest.Digest
		size     int64
		ok       bool
	}{
		{"digest and size", d, int64(len(data)), true},
		{"no digest", "", int64(len(data)), false},
		{"no size", d, -1, false},
	} {
		w, err := s.Writer(tc.expected, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Trust(); (err == nil) != tc.ok {
			t.Errorf("%s: Trust = %v", tc.name, err)
		}
		w.Close()
	}
	w, _ := s.Writer(d, int64(len(data)))
	io.WriteString(w, "x")
	if err := w.Trust(); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Trust after a write = %v", err)
	}
	w.Close()

	w, _ = s.Writer(d, int64(len(data)))
	w.Trust()
	io.WriteString(w, data[:5])
	if _, err := w.Commit(); !errdefs.IsInvalidArgument(err) {
		t.Errorf("trusted Commit of a short blob = %v", err)
	}
	w, _ = s.Writer(d, int64(len(data)))
	w.Trust()
	io.WriteString(w, data)
	if got, err := w.Commit(); err != nil || got != d {
		t.Fatalf("trusted Commit = %s, %v", got, err)
	}
	if b, err := s.ReadAll(d, 100); err != nil || string(b) != data {
		t.Errorf("ReadAll = %q, %v", b, err)
	}
}

func TestSHA512(t *testing.T) {
	s := open(t)
	d := digest.SHA512.FromString("other algorithms")
	got, _, err := s.Put(strings.NewReader("other algorithms"), d, -1)
	if err != nil || got != d {
		t.Fatalf("Put = %s, %v", got, err)
	}
	if _, err := s.ReadAll(d, 100); err != nil {
		t.Fatal(err)
	}
}
