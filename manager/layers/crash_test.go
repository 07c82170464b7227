package layers

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// stallingReader yields r, then signals and blocks forever: a registry
// that stops sending halfway, so the parent test can kill us there.
type stallingReader struct {
	r      io.Reader
	after  int64
	n      int64
	marker string
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.n >= s.after {
		os.WriteFile(s.marker, nil, 0o644)
		select {}
	}
	if int64(len(p)) > s.after-s.n {
		p = p[:s.after-s.n]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

// TestCrashChild is the process TestKillMidApply kills: it opens a store
// and unpacks a layer, teeing the blob into the content store, until the
// stream stalls halfway.
func TestCrashChild(t *testing.T) {
	root := os.Getenv("M1_CRASH_ROOT")
	if root == "" {
		t.Skip("run by TestKillMidApply")
	}
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := content.Open(filepath.Join(root, "content"))
	sn, err := snapshots.New("", filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	ls := NewStore(db, cs, sn)
	blob, _ := os.ReadFile(filepath.Join(root, "blob"))
	l := fromTar(t, smallFilesTar(t))
	if !bytes.Equal(l.blob, blob) {
		t.Fatal("blob differs")
	}
	w, _ := cs.Writer(l.desc.Digest, l.desc.Size)
	src := &stallingReader{r: bytes.NewReader(blob), after: int64(len(blob) / 2), marker: filepath.Join(root, "stalled")}
	ls.Apply(ctx, io.TeeReader(src, w), l.desc, l.diffID, "")
	t.Fatal("Apply returned from a stalled stream")
}

// kill -9 in the middle of an unpack: the next start cleans everything up
// and the same layer then unpacks fine.
func TestKillMidApply(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	l := fromTar(t, smallFilesTar(t))
	os.WriteFile(filepath.Join(root, "blob"), l.blob, 0o644)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashChild$")
	cmd.Env = append(os.Environ(), "M1_CRASH_ROOT="+root)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	marker := filepath.Join(root, "stalled")
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("child ended before stalling: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done

	// What the crash left: a temp snapshot half full, a blob in ingest.
	var before []string
	filepath.WalkDir(filepath.Join(root, "snapshots"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, "meta.json") {
			b, _ := os.ReadFile(p)
			before = append(before, string(b))
		}
		return nil
	})
	if len(before) != 1 || !strings.Contains(before[0], tempPrefix) {
		t.Fatalf("expected one temp snapshot after the kill, found %v", before)
	}

	// The next start.
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, err := content.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := snapshots.New("", filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	ls := NewStore(db, cs, sn)
	if err := ls.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	var keys []string
	sn.Walk(func(i snapshots.Info) error { keys = append(keys, i.Key); return nil })
	if len(keys) != 0 {
		t.Errorf("snapshots after cleanup: %v", keys)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "content", "ingest")); len(ents) != 0 {
		t.Errorf("ingest holds %d files after restart", len(ents))
	}
	if _, err := cs.Info(l.desc.Digest); !errdefs.IsNotFound(err) {
		t.Errorf("half a blob is visible: %v", err)
	}
	if _, err := ls.Get(l.diffID); !errdefs.IsNotFound(err) {
		t.Errorf("half a layer is recorded: %v", err)
	}
	if _, err := ls.Apply(ctx, bytes.NewReader(l.blob), l.desc, l.diffID, ""); err != nil {
		t.Fatalf("Apply after the crash: %v", err)
	}
}

// A full disk fails the unpack with ENOSPC named, and leaves nothing.
func TestFullDisk(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, _ := content.Open(filepath.Join(root, "content"))
	sn, err := snapshots.New("", filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	ls := NewStore(db, cs, sn)
	big := fromTar(t, randomTar(t)) // 50 MB onto 4 MB
	_, err = ls.Apply(ctx, bytes.NewReader(big.blob), big.desc, big.diffID, "")
	if err == nil || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("Apply onto a full disk = %v, want ENOSPC", err)
	}
	t.Logf("error: %v", err)
	var keys []string
	sn.Walk(func(i snapshots.Info) error { keys = append(keys, i.Key); return nil })
	if len(keys) != 0 {
		t.Errorf("snapshots left: %v", keys)
	}
	// The space is back: a small layer fits.
	small := makeLayer(t, tent{name: "f", body: strings.Repeat("x", 100000)})
	if _, err := ls.Apply(ctx, bytes.NewReader(small.blob), small.desc, small.diffID, ""); err != nil {
		t.Fatalf("small layer after the failure: %v", err)
	}
}
