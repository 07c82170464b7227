package volumes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
}

// mountsAt counts the mounts stacked on path.
func mountsAt(t *testing.T, path string) int {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(path))
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// unmountOnCleanup makes sure no test mount under dir outlives the test,
// whatever happened (even a volume directory renamed away); it runs before
// t.TempDir's removal, as cleanups run in reverse.
func unmountOnCleanup(t *testing.T, dir string) {
	t.Cleanup(func() {
		ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
		if err != nil {
			t.Error(err)
			return
		}
		for _, m := range ms {
			unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		}
	})
}

func TestTmpfsVolumeMountsOnceAndCounts(t *testing.T) {
	needRoot(t)
	s, root := newStore(t)
	v, err := s.Create("scratch", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0750,noexec"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unmountOnCleanup(t, root)
	if n := mountsAt(t, v.Mountpoint); n != 0 {
		t.Fatalf("create mounted the volume (%d mounts)", n)
	}

	p1, err := s.Mount("scratch", "c1")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.Mount("scratch", "c2")
	if err != nil {
		t.Fatal(err)
	}
	if p1 != v.Mountpoint || p2 != v.Mountpoint {
		t.Errorf("Mount returned %s and %s, want %s", p1, p2, v.Mountpoint)
	}
	if n := mountsAt(t, v.Mountpoint); n != 1 {
		t.Fatalf("%d mounts on the volume after two users, want 1", n)
	}
	var st unix.Statfs_t
	must(t, unix.Statfs(v.Mountpoint, &st))
	if st.Type != unix.TMPFS_MAGIC {
		t.Errorf("volume's file system type %#x, want tmpfs", st.Type)
	}
	if st.Flags&unix.ST_NOEXEC == 0 {
		t.Error("o=noexec was not applied")
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("mode=0750 data option not applied: %v %v", fi.Mode(), err)
	}
	must(t, os.WriteFile(filepath.Join(v.Mountpoint, "note"), []byte("hi"), 0o644))

	// The same container twice (two mount points) needs two unmounts.
	if _, err := s.Mount("scratch", "c1"); err != nil {
		t.Fatal(err)
	}
	must(t, s.Unmount("scratch", "c1"))
	must(t, s.Unmount("scratch", "c2"))
	if n := mountsAt(t, v.Mountpoint); n != 1 {
		t.Fatal("unmounted while c1 still uses it")
	}
	if err := s.Remove("scratch", true); !errdefs.IsConflict(err) {
		t.Errorf("Remove while mounted = %v, want conflict", err)
	}
	must(t, s.Unmount("scratch", "c1"))
	if n := mountsAt(t, v.Mountpoint); n != 0 {
		t.Fatalf("%d mounts left after the last user", n)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "note")); !os.IsNotExist(err) {
		t.Error("the tmpfs's file is still visible after the unmount")
	}
	must(t, s.Unmount("scratch", "c1")) // a second cleanup is harmless
	if err := s.Unmount("nope", "c1"); !errdefs.IsNotFound(err) {
		t.Errorf("Unmount of a missing volume = %v", err)
	}
	must(t, s.Remove("scratch", false))
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("root holds %v after remove", entries)
	}
}

func TestMountFailureCountsNothing(t *testing.T) {
	needRoot(t)
	s, root := newStore(t)
	_, err := s.Create("broken", "", map[string]string{"type": "no-such-fs", "device": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unmountOnCleanup(t, root)
	_, err = s.Mount("broken", "c1")
	if err == nil || !strings.Contains(err.Error(), "mount volume broken") {
		t.Fatalf("Mount of a bad file system type = %v", err)
	}
	if u := s.Users("broken"); len(u) != 0 {
		t.Errorf("a failed mount counts users %v", u)
	}
	must(t, s.Remove("broken", false))
}

func TestBindVolumeRemoveKeepsHostFiles(t *testing.T) {
	needRoot(t)
	s, root := newStore(t)
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "precious"), []byte("keep me"), 0o644))
	ro, err := s.Create("hostro", "", map[string]string{"type": "none", "device": host, "o": "bind,ro"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create("hostdir", "", map[string]string{"type": "none", "device": host, "o": "bind"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unmountOnCleanup(t, root)
	for _, name := range []string{"hostro", "hostdir"} {
		if _, err := s.Mount(name, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(v.Mountpoint, "precious")); err != nil || string(b) != "keep me" {
		t.Fatalf("host file through the volume: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(ro.Mountpoint, "new"), nil, 0o644); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("write into a ro bind volume = %v, want read-only", err)
	}

	// A restart forgets the counts while the binds stay mounted; removing
	// the volumes then must unmount them, not delete through them.
	s2, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	must(t, s2.Remove("hostdir", false))
	must(t, s2.Remove("hostro", false))
	if b, err := os.ReadFile(filepath.Join(host, "precious")); err != nil || string(b) != "keep me" {
		t.Fatalf("removing the volume damaged the host directory: %q %v", b, err)
	}
}

func TestCleanupNeverDeletesThroughAMount(t *testing.T) {
	needRoot(t)
	root := filepath.Join(t.TempDir(), "volumes")
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "precious"), []byte("keep me"), 0o644))
	// A remove cut short by a crash, with a host directory still bound.
	leftover := filepath.Join(root, ".removing-x-1", "_data")
	must(t, os.MkdirAll(leftover, 0o755))
	unmountOnCleanup(t, root)
	must(t, unix.Mount(host, leftover, "", unix.MS_BIND, ""))
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".removing-x-1")); !os.IsNotExist(err) {
		t.Errorf("leftover not cleaned: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(host, "precious")); err != nil || string(b) != "keep me" {
		t.Fatalf("cleaning up deleted through the mount: %q %v", b, err)
	}
}

func TestRestartWithMountedVolume(t *testing.T) {
	needRoot(t)
	s, root := newStore(t)
	v, err := s.Create("live", "", map[string]string{"type": "tmpfs", "device": "tmpfs"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unmountOnCleanup(t, root)
	if _, err := s.Mount("live", "c1"); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(v.Mountpoint, "state"), []byte("1"), 0o644))

	// The daemon restarts; the container still runs and claims the volume
	// again: the data stays and nothing is mounted twice.
	s2, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Mount("live", "c1"); err != nil {
		t.Fatal(err)
	}
	if n := mountsAt(t, v.Mountpoint); n != 1 {
		t.Errorf("%d mounts after the restart, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "state")); err != nil {
		t.Errorf("data lost over the restart: %v", err)
	}
	must(t, s2.Unmount("live", "c1"))
	if n := mountsAt(t, v.Mountpoint); n != 0 {
		t.Errorf("%d mounts after the last unmount", n)
	}
}
