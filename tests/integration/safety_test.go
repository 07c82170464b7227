package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// markerFile opens a file the test passes to xrt as fd 3.
func markerFile(t *testing.T) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "marker")
	writeFile(t, path, "marker content\n")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFdsNotLeaked(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "ls", "/proc/self/fd")
	r := b.runWith(runOpts{extra: []*os.File{markerFile(t)}})
	// 3 is the directory ls reads.
	if got := strings.Fields(r.stdout); r.code != 0 || !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Errorf("want only fds 0 1 2 and ls's own 3 in the container, got %s", r)
	}
}

func TestPreserveFds(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sh", "-c", "ls /proc/self/fd; cat <&3")
	r := b.runWith(runOpts{extra: []*os.File{markerFile(t)}}, "--preserve-fds", "1")
	// 4 is the directory ls reads.
	if got := strings.Fields(r.stdout); r.code != 0 ||
		!slices.Equal(got, []string{"0", "1", "2", "3", "4", "marker", "content"}) {
		t.Errorf("want fds 0 to 3 and ls's own 4 in the container, and the marker read from fd 3, got %s", r)
	}
}

// TestInitExeReadonly checks the host cannot be attacked through the
// binary of a created container's init (CVE-2019-5736): /proc/PID/exe must
// lead to the binary through a read-only mount, so that once no one
// executes it any more, reopening it for writing fails with EROFS. While it
// runs, the kernel answers ETXTBSY first, so the mount flags are checked.
func TestInitExeReadonly(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	st := b.mustCreate()
	exe := fmt.Sprintf("/proc/%d/exe", st.Pid)
	fd, err := unix.Open(exe, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", exe, err)
	}
	defer unix.Close(fd)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		t.Fatalf("statfs %s: %v", exe, err)
	}
	if sfs.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("%s of a created container is on a writable mount (flags %#x)", exe, sfs.Flags)
	}
	f, err := os.OpenFile(exe, os.O_WRONLY, 0)
	if err == nil {
		f.Close()
		t.Fatalf("opened %s of a created container for writing", exe)
	}
}

func TestCwdStaysInside(t *testing.T) {
	t.Parallel()
	hostDir := t.TempDir()
	writeFile(t, filepath.Join(hostDir, "HOSTMARK"), "host\n")
	runInside(t, []insideCase{
		{
			name: "tmp",
			args: []string{"pwd"},
			edit: func(_ *testing.T, b *bundle) { b.spec.Process.Cwd = "/tmp" },
			want: "/tmp",
		},
		{
			name: "dot-dot",
			args: []string{"sh", "-c", "pwd; ls"},
			edit: func(_ *testing.T, b *bundle) { b.spec.Process.Cwd = "/../../../.." },
			want: "/\nbin\ndev\netc\nproc\nroot\nsys\ntmp",
		},
		{
			name: "symlink to a host dir",
			args: []string{"ls", "-a"},
			edit: func(t *testing.T, b *bundle) {
				b.spec.Root.Readonly = false
				if err := os.Symlink(hostDir, b.rootfs("link")); err != nil {
					t.Fatal(err)
				}
				b.spec.Process.Cwd = "/link"
			},
			anyCode: true,
			check: func(t *testing.T, _ *bundle, r result) {
				// Failing is fine; seeing or changing the host's directory is not.
				if strings.Contains(r.stdout, "HOSTMARK") {
					t.Errorf("cwd escaped to the host's %s: %s", hostDir, r)
				}
			},
		},
	})
	t.Cleanup(func() {
		if got := dirNames(hostDir); !slices.Equal(got, []string{"HOSTMARK"}) {
			t.Errorf("host dir %s changed: %q", hostDir, got)
		}
	})
}
