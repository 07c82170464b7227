package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/registry"
	"github.com/xrt-dev/xrt/manager/snapshots"
	"github.com/xrt-dev/xrt/tests/registry/regtest"
)

// mountTmpfs mounts a private tmpfs of size bytes on a new directory and
// unmounts it when the test ends, whatever happened.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	// Registered after TempDir's own cleanup, so it runs before the
	// directory is removed (cleanups run last in, first out).
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

// resizeTmpfs changes the size of the tmpfs at dir in place.
func resizeTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("remount %s with size %d: %v", dir, size, err)
	}
}

// dataUsage is the space used on the file system of root, less what the
// SQLite files take: a WAL file keeps its size after a checkpoint (it is
// reused, not truncated), so the database's share of the disk is not a
// leftover of the pull. Records left in it are checked one by one.
func dataUsage(t *testing.T, root string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	used := int64(st.Blocks-st.Bfree) * st.Bsize
	dbFiles, _ := filepath.Glob(filepath.Join(root, "xmgr.db*"))
	for _, f := range dbFiles {
		var fst unix.Stat_t
		if err := unix.Stat(f, &fst); err == nil {
			used -= fst.Blocks * 512
		}
	}
	return used
}

// listTree names every file and directory under dir (relative), for a
// message about what a failure left.
func listTree(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// fillTo writes a file at path that leaves about free bytes of the file
// system available, as another writer filling the disk would.
func fillTo(path string, free int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return err
	}
	n := int64(st.Bavail)*st.Bsize - free
	if n <= 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, n); err != nil {
		return fmt.Errorf("fallocate %s: %w", path, err)
	}
	return nil
}

// TestPullFullDisk pulls onto a data root too small for the image (big
// enough for its metadata): the pull fails with ENOSPC and says what it
// was writing, and nothing of it is left, on disk or in the store. With
// room again, the next pull into the same store succeeds.
func TestPullFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a tmpfs, unpacks layers with their owners")
	}
	srv := startRegistry(t, regtest.Options{})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host}).Push("m6/full", "1", img); err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, srv.Host)
	ref := px.Host + "/m6/full:1"
	big := img.Layers[1] // 3 MiB of random bytes: kept twice, as a blob and unpacked
	for _, tt := range []struct {
		name string
		size int64
		// fill: when the big layer is requested, another writer leaves
		// only this many bytes free (0: no filler).
		fill int64
		// writing is what the error must name: the blob in ingest/
		// ("ingest"), or that or any file being written ("any").
		writing string
		// parallel is Options.Parallel (0: the default).
		parallel int
	}{
		// The blob does not fit (nor the unpacked layer): which write
		// meets the end first (the blob, a file of a layer, a
		// snapshot's meta.json) depends on the race of the layers.
		{"blob does not fit", 2 << 20, 0, "any", 0},
		// Room for the database, the small layers and the blob, not
		// for the big layer unpacked as well.
		{"unpacked layer does not fit", 4 << 20, 0, "any", 0},
		// The disk fills up during the download, with less room than
		// the decompressor reads ahead before the unpacker writes
		// anything: the blob's write to ingest/ is the one that fails.
		// One transfer at a time (the big layer first), so that no
		// small layer meets the full disk before it.
		{"disk fills during the download", 64 << 20, 256 << 10, "ingest", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := mountTmpfs(t, tt.size)
			filler := filepath.Join(root, "filler")
			s := openStack(t, root, "overlay2", registry.Options{Parallel: tt.parallel})
			ctx := context.Background()
			before := dataUsage(t, root)
			var fillMu sync.Mutex // the fault runs on the proxy's goroutine
			var fillErr error
			if tt.fill > 0 {
				px.SetFault(func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
					if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+big.Digest.String()) {
						fillMu.Lock()
						if _, err := os.Stat(filler); err != nil {
							fillErr = fillTo(filler, tt.fill)
						}
						fillMu.Unlock()
					}
					return false
				})
				t.Cleanup(func() { px.SetFault(nil) })
			}

			_, err := s.reg.Pull(ctx, ref, nil, nil)
			fillMu.Lock()
			ferr := fillErr
			fillMu.Unlock()
			if ferr != nil {
				t.Fatal(ferr)
			}
			if err == nil {
				t.Fatalf("pull onto a full disk succeeded")
			}
			t.Logf("pull error: %v", err)
			msg := err.Error()
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(msg, "no space left on device") {
				t.Errorf("error %q does not carry ENOSPC", msg)
			}
			// It names a layer of the image and what was being written.
			named := false
			for _, l := range img.Layers {
				named = named || strings.Contains(msg, "layer "+l.Digest.String())
			}
			ingest := strings.Contains(msg, "write "+filepath.Join(root, "content", "ingest")+"/")
			// A file of the layer, or a file of the store (a snapshot's
			// meta.json) by its path.
			file := strings.Contains(msg, "layer tar: write ") || strings.Contains(msg, "write "+root+"/")
			switch {
			case !named:
				t.Errorf("error %q names no layer of the image", msg)
			case tt.writing == "ingest" && !(ingest && strings.Contains(msg, "layer "+big.Digest.String())):
				t.Errorf("error %q does not name the blob of layer %s being written to ingest/", msg, big.Digest)
			case !ingest && !file:
				t.Errorf("error %q does not name what was being written", msg)
			}

			s.assertEmpty(t)
			if _, err := s.is.Resolve(ref); err == nil {
				t.Errorf("tag %s exists after the failed pull", ref)
			}
			var snaps []string
			s.sn.Walk(func(i snapshots.Info) error { snaps = append(snaps, i.Key); return nil })
			if len(snaps) != 0 {
				t.Errorf("snapshots left: %v", snaps)
			}
			// On disk: the overlay driver's root holds only its link
			// directory, empty, and its index files.
			if name := snapshots.Name(s.sn); name != snapshots.DriverOverlay {
				t.Fatalf("driver %s on tmpfs, want overlay2", name)
			}
			drv := filepath.Join(root, "snapshots", snapshots.DriverOverlay)
			if ents, err := os.ReadDir(drv); err != nil {
				t.Error(err)
			} else {
				for _, e := range ents {
					if e.IsDir() && e.Name() != "l" {
						t.Errorf("snapshot directory left: %s", e.Name())
					}
				}
			}
			if ents, _ := os.ReadDir(filepath.Join(drv, "l")); len(ents) != 0 {
				t.Errorf("snapshot links left: %d", len(ents))
			}
			// Room again: the filler goes, the disk grows.
			if err := os.Remove(filler); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if after := dataUsage(t, root); after != before {
				t.Errorf("disk usage %d bytes after the failed pull, %d before; files:\n%s", after, before, strings.Join(listTree(root), "\n"))
			}

			px.SetFault(nil)
			resizeTmpfs(t, root, 64<<20)
			got, err := s.reg.Pull(ctx, ref, nil, nil)
			if err != nil {
				t.Fatalf("pull with room again: %v", err)
			}
			if got.ID != img.ConfigDigest {
				t.Errorf("pulled %s, want %s", got.ID, img.ConfigDigest)
			}
			if imgs, err := s.is.List(images.ListFilter{}); err != nil || len(imgs) != 1 {
				t.Errorf("images after the second pull: %d, %v", len(imgs), err)
			}
		})
	}
}
