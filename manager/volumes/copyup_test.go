package volumes

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCopyUp(t *testing.T) {
	needRoot(t)
	src := filepath.Join(t.TempDir(), "image-dir")
	dst := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "conf"), []byte("port=3000"), 0o640))
	must(t, os.Chown(filepath.Join(src, "conf"), 1234, 5678))
	must(t, os.WriteFile(filepath.Join(src, "sub", "tool"), []byte("#!"), 0o755))
	must(t, unix.Chmod(filepath.Join(src, "sub", "tool"), 0o4755))
	must(t, os.Link(filepath.Join(src, "conf"), filepath.Join(src, "sub", "conf-link")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(src, "abs-link")))
	must(t, os.Symlink("missing", filepath.Join(src, "dangling")))
	must(t, os.Lchown(filepath.Join(src, "dangling"), 42, 43))
	must(t, unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	must(t, os.Chmod(filepath.Join(src, "fifo"), 0o620))
	must(t, unix.Lsetxattr(filepath.Join(src, "conf"), "user.origin", []byte("image"), 0))
	must(t, os.Chown(filepath.Join(src, "sub"), 7, 8))
	must(t, os.Chmod(filepath.Join(src, "sub"), 0o710))
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(t, os.Chtimes(filepath.Join(src, "conf"), old, old))
	must(t, os.Chtimes(filepath.Join(src, "sub"), old, old))
	must(t, os.Chown(src, 1000, 1000))
	must(t, os.Chmod(src, 0o700))

	must(t, CopyUp(src, dst))

	check := func(rel string, mode os.FileMode, uid, gid uint32) *syscall.Stat_t {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(dst, rel))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
		}
		return st
	}
	check(".", os.ModeDir|0o700, 1000, 1000)
	conf := check("conf", 0o640, 1234, 5678)
	check("sub", os.ModeDir|0o710, 7, 8)
	check("sub/tool", os.ModeSetuid|0o755, 0, 0)
	link := check("sub/conf-link", 0o640, 1234, 5678)
	check("dangling", os.ModeSymlink|0o777, 42, 43)
	check("fifo", os.ModeNamedPipe|0o620, 0, 0)
	if conf.Ino != link.Ino {
		t.Error("hard link copied as two files")
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "conf")); string(b) != "port=3000" {
		t.Errorf("conf content %q", b)
	}
	if target, _ := os.Readlink(filepath.Join(dst, "abs-link")); target != "/etc/passwd" {
		t.Errorf("symlink target %q, want /etc/passwd kept as a link", target)
	}
	for _, rel := range []string{"conf", "sub"} {
		if fi, _ := os.Stat(filepath.Join(dst, rel)); !fi.ModTime().Equal(old) {
			t.Errorf("%s mtime %v, want %v", rel, fi.ModTime(), old)
		}
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(dst, "conf"), "user.origin", buf); err != nil || string(buf[:n]) != "image" {
		t.Errorf("xattr user.origin = %q, %v", buf[:n], err)
	}
}

func TestCopyUpLeavesFilledVolumeAlone(t *testing.T) {
	src := t.TempDir()
	dst := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "from-image"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(dst, "user-data"), []byte("mine"), 0o600))
	must(t, os.Chmod(dst, 0o750))
	must(t, CopyUp(src, dst))
	entries, _ := os.ReadDir(dst)
	if len(entries) != 1 || entries[0].Name() != "user-data" {
		t.Errorf("dst holds %v, want only user-data", entries)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o750 {
		t.Errorf("dst mode changed to %v", fi.Mode())
	}
}

func TestCopyUpWithoutSource(t *testing.T) {
	dst := t.TempDir()
	must(t, CopyUp(filepath.Join(dst, "nope"), dst))
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o644))
	must(t, CopyUp(file, dst))
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Errorf("dst holds %v", entries)
	}
}
