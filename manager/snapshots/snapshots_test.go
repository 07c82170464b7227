package snapshots

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts")
	}
}

// layerTar makes a tar of files (name -> content; "" content with a
// ".wh." name is a whiteout).
func layerTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range files {
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1600000000, 0)}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return b.Bytes()
}

// commitLayer prepares key on parent, applies files and commits it as name.
func commitLayer(t *testing.T, s Snapshotter, name, parent string, files map[string]string) {
	t.Helper()
	key := "tmp-" + name
	var err error
	if _, err = s.Prepare(key, parent); err != nil {
		t.Fatal(err)
	}
	dir, wo, err := s.Dir(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Apply(dir, bytes.NewReader(layerTar(t, files)), wo); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(name, key); err != nil {
		t.Fatal(err)
	}
}

func mountAt(t *testing.T, ms []Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Unmount(target) })
	return target
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func drivers(t *testing.T) map[string]func(string) (Snapshotter, error) {
	return map[string]func(string) (Snapshotter, error){
		"overlay": func(root string) (Snapshotter, error) { return NewOverlay(root) },
		"native":  func(root string) (Snapshotter, error) { return NewNative(root) },
	}
}

func TestLifecycle(t *testing.T) {
	requireRoot(t)
	for name, open := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			s, err := open(root)
			if err != nil {
				t.Fatal(err)
			}
			commitLayer(t, s, "base", "", map[string]string{"etc/": "", "etc/passwd": "root", "etc/group": "g", "bin/sh": "sh"})
			commitLayer(t, s, "top", "base", map[string]string{"etc/.wh.group": "", "etc/hosts": "h", "bin/sh": "new sh"})

			ms, err := s.Prepare("ctr", "top")
			if err != nil {
				t.Fatal(err)
			}
			rootfs := mountAt(t, ms)
			for p, want := range map[string]string{"etc/passwd": "root", "etc/hosts": "h", "bin/sh": "new sh"} {
				if got := read(t, filepath.Join(rootfs, p)); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			if _, err := os.Stat(filepath.Join(rootfs, "etc/group")); !os.IsNotExist(err) {
				t.Errorf("etc/group is not whited out: %v", err)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "new"), []byte("w"), 0o644); err != nil {
				t.Fatal(err)
			}
			if u, err := s.Usage("ctr"); err != nil || u < 1 {
				t.Errorf("Usage(ctr) = %d, %v", u, err)
			}

			vms, err := s.View("v", "top")
			if err != nil {
				t.Fatal(err)
			}
			view := mountAt(t, vms)
			if got := read(t, filepath.Join(view, "bin/sh")); got != "new sh" {
				t.Errorf("view bin/sh = %q", got)
			}
			if err := os.WriteFile(filepath.Join(view, "x"), nil, 0o644); err == nil {
				t.Error("wrote into a view")
			}

			// Errors by kind.
			if _, err := s.Prepare("ctr", "top"); !errdefs.IsAlreadyExists(err) {
				t.Errorf("Prepare of an existing key = %v", err)
			}
			if _, err := s.Prepare("x", "missing"); !errdefs.IsNotFound(err) {
				t.Errorf("Prepare on a missing parent = %v", err)
			}
			if _, err := s.Prepare("x", "ctr"); !errdefs.IsInvalidArgument(err) {
				t.Errorf("Prepare on an active parent = %v", err)
			}
			if err := s.Remove("base"); !errdefs.IsConflict(err) {
				t.Errorf("Remove of a parent = %v", err)
			}
			if err := s.Commit("top", "ctr"); !errdefs.IsAlreadyExists(err) {
				t.Errorf("Commit onto a taken name = %v", err)
			}
			if _, _, err := s.Dir("top"); !errdefs.IsInvalidArgument(err) {
				t.Errorf("Dir of a committed snapshot = %v", err)
			}
			if _, err := s.Stat("nope"); !errdefs.IsNotFound(err) {
				t.Errorf("Stat of a missing key = %v", err)
			}

			// A second instance over the same root sees the same state.
			var keys []string
			s2, err := open(root)
			if err != nil {
				t.Fatal(err)
			}
			s2.Walk(func(i Info) error { keys = append(keys, fmt.Sprintf("%s<%s>%s", i.Key, i.Parent, i.Kind)); return nil })
			if got := strings.Join(keys, " "); got != "base<>committed ctr<top>active top<base>committed v<top>view" {
				t.Errorf("Walk after reopen = %s", got)
			}

			Unmount(rootfs)
			Unmount(view)
			for _, k := range []string{"v", "ctr", "top", "base"} {
				if err := s.Remove(k); err != nil {
					t.Fatalf("Remove(%s): %v", k, err)
				}
			}
			ents, _ := os.ReadDir(root)
			for _, e := range ents {
				if e.Name() != linkDir {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

func TestCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	s, err := NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare("a", ""); err != nil {
		t.Fatal(err)
	}
	// A Prepare that died before writing its record, a Remove that died
	// after the rename, a link whose snapshot is gone.
	os.MkdirAll(filepath.Join(root, "deadbeef", "diff"), 0o755)
	os.MkdirAll(filepath.Join(root, removingName+"cafe", "diff"), 0o755)
	os.Symlink("../gone/diff", filepath.Join(root, linkDir, "ORPHAN"))
	if _, err := NewOverlay(root); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 2 { // l/ and a's directory
		t.Errorf("after reopen: %v", ents)
	}
	if _, err := os.Lstat(filepath.Join(root, linkDir, "ORPHAN")); err == nil {
		t.Error("orphan link kept")
	}
}

// An image of 128 layers mounts: lowerdir stays under a page through l/
// and relative names, even from a long root path.
func TestOverlay128Layers(t *testing.T) {
	requireRoot(t)
	root := filepath.Join(t.TempDir(), strings.Repeat("long-path-", 5))
	s, err := NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	parent := ""
	for i := 0; i < 128; i++ {
		name := fmt.Sprintf("layer-%03d", i)
		commitLayer(t, s, name, parent, map[string]string{fmt.Sprintf("f%03d", i): name, "top": name})
		parent = name
	}
	ms, err := s.Prepare("ctr-128", parent)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Join(ms[0].Options, ",")); n < os.Getpagesize() {
		t.Logf("options are %d bytes: the relative path route is not exercised", n)
	}
	rootfs := mountAt(t, ms)
	for i := 0; i < 128; i++ {
		if got := read(t, filepath.Join(rootfs, fmt.Sprintf("f%03d", i))); got != fmt.Sprintf("layer-%03d", i) {
			t.Fatalf("f%03d = %q", i, got)
		}
	}
	if got := read(t, filepath.Join(rootfs, "top")); got != "layer-127" {
		t.Errorf("top = %q, want the upper-most layer's", got)
	}
	wd, _ := os.Getwd()
	if strings.HasPrefix(wd, root) {
		t.Errorf("the process working directory moved to %s", wd)
	}
}

func TestPrepareUnlinked(t *testing.T) {
	requireRoot(t)
	s, err := NewOverlay(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The child is unpacked and committed before its parent exists.
	if err := s.PrepareUnlinked("tmp-child", "parent"); err != nil {
		t.Fatal(err)
	}
	dir, _, _ := s.Dir("tmp-child")
	archive.Apply(dir, bytes.NewReader(layerTar(t, map[string]string{"child": "c"})), archive.WhiteoutOverlay)
	if err := s.Commit("child", "tmp-child"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare("ctr", "child"); !errdefs.IsNotFound(err) {
		t.Fatalf("Prepare on a child whose parent is missing = %v, want not found", err)
	}
	if _, err := s.Stat("ctr"); !errdefs.IsNotFound(err) {
		t.Errorf("a failed Prepare left its snapshot: %v", err)
	}
	commitLayer(t, s, "parent", "", map[string]string{"parent": "p"})
	ms, err := s.Prepare("ctr2", "child")
	if err != nil {
		t.Fatal(err)
	}
	rootfs := mountAt(t, ms)
	if read(t, filepath.Join(rootfs, "parent")) != "p" || read(t, filepath.Join(rootfs, "child")) != "c" {
		t.Error("layers missing in the mount")
	}
}

func TestNewDriver(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	for _, tc := range []struct{ in, want string }{
		{"", DriverOverlay}, {"overlay2", DriverOverlay}, {"native", DriverNative}, {"vfs", DriverNative},
	} {
		s, err := New(tc.in, root)
		if err != nil {
			t.Fatalf("New(%q): %v", tc.in, err)
		}
		if Name(s) != tc.want {
			t.Errorf("New(%q) is %s", tc.in, Name(s))
		}
	}
	if _, err := New("zfs", root); !errdefs.IsInvalidArgument(err) {
		t.Errorf("New(zfs) = %v", err)
	}
}

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		flags uintptr
		data  string
	}{
		{[]string{"ro", "rbind"}, 1 | 4096 | 16384, ""},
		{[]string{"rw", "nosuid", "lowerdir=/a", "index=off"}, 2, "lowerdir=/a,index=off"},
	} {
		f, d := ParseOptions(tc.in)
		if f != tc.flags || strings.Join(d, ",") != tc.data {
			t.Errorf("ParseOptions(%v) = %x %q", tc.in, f, d)
		}
	}
	dir, opts, ok := relativeLowers([]string{"index=off", "lowerdir=/r/l/AAA:/r/l/BBB", "upperdir=/r/x/diff"})
	if !ok || dir != "/r/l" || opts != "index=off,lowerdir=AAA:BBB,upperdir=/r/x/diff" {
		t.Errorf("relativeLowers = %q %q %v", dir, opts, ok)
	}
}

// On a file system overlayfs cannot use as an upper (an overlay itself,
// as in Docker-in-Docker), the default driver falls back to native and
// an explicit "overlay" says why it cannot.
func TestNewFallsBackToNative(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	for _, sub := range []string{"l", "u", "w", "m"} {
		os.Mkdir(filepath.Join(d, sub), 0o755)
	}
	m := filepath.Join(d, "m")
	if err := (Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + filepath.Join(d, "l"), "upperdir=" + filepath.Join(d, "u"), "workdir=" + filepath.Join(d, "w")}}).Mount(m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Unmount(m) })
	root := filepath.Join(m, "snapshots")
	if err := OverlaySupported(os.TempDir()); err != nil {
		t.Skipf("overlay not usable on %s either: %v", os.TempDir(), err)
	}
	s, err := New("", root)
	if err != nil {
		t.Fatal(err)
	}
	if Name(s) != DriverNative {
		t.Fatalf("driver on an overlay = %s, want native", Name(s))
	}
	commitLayer(t, s, "base", "", map[string]string{"f": "on an overlay"})
	if _, err := New("overlay", root); err == nil || !strings.Contains(err.Error(), "overlayfs cannot be mounted") {
		t.Errorf(`New("overlay") on an overlay = %v`, err)
	}
	// The failed probe leaves nothing behind.
	if _, err := New("", root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, DriverOverlay)); !os.IsNotExist(err) {
		t.Errorf("the fallback left an overlay2 directory: %v", err)
	}
}
