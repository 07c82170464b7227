package layers

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// A tree of actions on a container's root file system, as a test writes
// them.
type fsOp func(root string) error

func write(p, body string) fsOp {
	return func(root string) error {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, p), []byte(body), 0o644)
	}
}

func mkdir(p string) fsOp {
	return func(root string) error { return os.MkdirAll(filepath.Join(root, p), 0o755) }
}

func rm(p string) fsOp {
	return func(root string) error { return os.RemoveAll(filepath.Join(root, p)) }
}

func symlink(target, p string) fsOp {
	return func(root string) error { return os.Symlink(target, filepath.Join(root, p)) }
}

func hardlink(old, p string) fsOp {
	return func(root string) error { return os.Link(filepath.Join(root, old), filepath.Join(root, p)) }
}

func mknod(p string, major, minor uint32) fsOp {
	return func(root string) error {
		return unix.Mknod(filepath.Join(root, p), unix.S_IFCHR|0o666, int(unix.Mkdev(major, minor)))
	}
}

func TestDiff(t *testing.T) {
	dir := func(name string) tent { return tent{name: name, typ: tar.TypeDir} }
	files := [][]tent{{
		dir("conf/"), {name: "conf/passwd", body: "root"}, {name: "conf/group", body: "g"},
		{name: "opt/old", body: "o"}, {name: "opt/sub/deep", body: "d"},
		{name: "srv/a/b", body: "b"}, {name: "srv/keep", body: "k"},
		{name: "repl/x", body: "x"}, {name: "f2d", body: "f"}, {name: "keep/same", body: "s"},
	}}
	for _, tc := range []struct {
		name   string
		base   [][]tent // the image's layers, bottom first
		ops    []fsOp
		want   map[string]string // by driver; "" for both
		ignore []string          // placeholders: not in the layer
	}{{
		name: "files",
		base: files,
		ops: []fsOp{
			write("conf/passwd", "root2"), write("conf/new", "n"), rm("conf/group"),
			rm("srv/a"),
			rm("repl"), write("repl", "now a file"),
			rm("f2d"), write("f2d/in", "now a dir"),
			rm("opt"), write("opt/new", "n"),
			write("new/file", "linked"), hardlink("new/file", "new/link"), symlink("../conf/passwd", "new/sym"),
		},
		want: map[string]string{
			snapshots.DriverOverlay: "C /conf,D /conf/group,A /conf/new,C /conf/passwd,D /f2d,A /f2d/in," +
				"A /new,A /new/file,A /new/link,A /new/sym,D /opt,A /opt/new,C /repl,C /srv,D /srv/a",
			snapshots.DriverNative: "C /conf,D /conf/group,A /conf/new,C /conf/passwd,C /f2d,A /f2d/in," +
				"A /new,A /new/file,A /new/link,A /new/sym,C /opt,A /opt/new,D /opt/old,D /opt/sub,C /repl,C /srv,D /srv/a",
		},
	}, {
		name: "placeholders left out",
		base: files,
		ops: []fsOp{
			mkdir("proc"), mkdir("sys/fs/cgroup"), mkdir("dev/pts"), mknod("dev/null", 1, 3), write("dev/shm/x", "x"),
			write("etc/hosts", ""), write("etc/hostname", ""), write("etc/resolv.conf", ""), symlink("/proc/mounts", "etc/mtab"),
			write(".dockerenv", ""),
			write("data/x", "x"),
		},
		want:   map[string]string{"": "A /data,A /data/x"},
		ignore: []string{"proc", "sys", "dev", "etc", ".dockerenv"},
	}, {
		name: "placeholders in the image's directories",
		base: [][]tent{{dir("etc/"), {name: "etc/passwd", body: "root"}, dir("dev/")}},
		ops:  []fsOp{write("etc/hosts", ""), write(".dockerenv", ""), mkdir("dev/pts"), mkdir("proc")},
		want: map[string]string{"": ""},
		// etc and dev are in the image: only their times moved.
		ignore: []string{"etc/hosts", ".dockerenv", "dev/pts", "proc", "etc", "dev"},
	}, {
		name: "real files at placeholder paths",
		base: files,
		ops: []fsOp{
			write("etc/hostname", "box\n"), write("etc/hosts", ""), write(".dockerenv", "x"),
		},
		want:   map[string]string{"": "A /.dockerenv,A /etc,A /etc/hostname"},
		ignore: []string{"etc/hosts"},
	}, {
		name: "deleting the image's placeholder files",
		base: [][]tent{{{name: "etc/hosts", body: "h"}, {name: "etc/hostname", body: ""}, {name: "dev/x", body: "x"}}},
		ops:  []fsOp{rm("etc/hosts"), rm("etc/hostname"), write("etc/resolv.conf", "nameserver 1.1.1.1\n")},
		want: map[string]string{"": "C /etc,D /etc/hostname,D /etc/hosts,A /etc/resolv.conf"},
	}, {
		name: "opaque directory in a lower layer",
		base: [][]tent{
			{{name: "d/x", body: "x"}, {name: "d/y", body: "y"}},
			{dir("d/"), {name: "d/.wh..wh..opq"}, {name: "d/z", body: "z"}},
		},
		ops:  []fsOp{write("d/x", "back")},
		want: map[string]string{"": "C /d,A /d/x"},
	}} {
		for _, driver := range []string{snapshots.DriverOverlay, snapshots.DriverNative} {
			t.Run(tc.name+"/"+driver, func(t *testing.T) {
				f := newFixture(t, driver)
				var parent digest.Digest
				for _, ents := range tc.base {
					l := makeLayer(t, ents...)
					got, err := f.ls.Apply(ctx, bytes.NewReader(l.blob), l.desc, l.diffID, parent)
					if err != nil {
						t.Fatal(err)
					}
					parent = got.ChainID
				}
				rootfs := f.mount(t, "ctr", parent)
				for _, op := range tc.ops {
					if err := op(rootfs); err != nil {
						t.Fatal(err)
					}
				}

				changes, err := f.ls.Changes(ctx, "ctr", parent)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := tc.want[driver]
				if !ok {
					want = tc.want[""]
				}
				if got := changeString(changes); got != want {
					t.Errorf("Changes\n got %s\nwant %s", got, want)
				}

				var layer bytes.Buffer
				if err := f.ls.Diff(ctx, &layer, "ctr", parent); err != nil {
					t.Fatal(err)
				}
				for _, name := range tarNames(t, layer.Bytes()) {
					for _, p := range tc.ignore {
						if n := strings.TrimSuffix(name, "/"); n == p || strings.HasPrefix(n, p+"/") {
							t.Errorf("the layer holds placeholder %s", name)
						}
					}
				}
				l, _, err := f.ls.ApplyTar(ctx, bytes.NewReader(layer.Bytes()), parent, ocispec.MediaTypeImageLayerGzip)
				if err != nil {
					t.Fatal(err)
				}
				view := f.view(t, "view", l.ChainID)
				compareTrees(t, rootfs, view, tc.ignore)
			})
		}
	}
}

func (f *fixture) view(t *testing.T, key string, chainID digest.Digest) string {
	t.Helper()
	ms, err := f.ls.Mounts(key, chainID, true)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := snapshots.MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshots.Unmount(target) })
	return target
}

func changeString(cs []Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind.String()+" "+c.Path)
	}
	return strings.Join(out, ",")
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// compareTrees checks that got (the diff applied to the parent) shows
// what want (the container's snapshot) does, but for the ignored paths;
// directories' times are not compared, nor hardlinks to files the layer
// does not hold.
func compareTrees(t *testing.T, want, got string, ignore []string) {
	t.Helper()
	skip := func(rel string) bool {
		for _, p := range ignore {
			if rel == p || strings.HasPrefix(rel, p+"/") {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	inodes := map[uint64]string{} // want's inode -> got's, for hardlinks
	filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		rel, _ := filepath.Rel(want, p)
		if rel == "." {
			return nil
		}
		if skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		seen[rel] = true
		wfi, _ := os.Lstat(p)
		gfi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: missing from the applied layer: %v", rel, err)
			return nil
		}
		if wd, gd := describe(p, wfi), describe(filepath.Join(got, rel), gfi); wd != gd {
			t.Errorf("%s: applied %s, want %s", rel, gd, wd)
		}
		ws, gs := wfi.Sys().(*syscall.Stat_t), gfi.Sys().(*syscall.Stat_t)
		if wfi.Mode().IsRegular() && ws.Nlink > 1 {
			key := fmt.Sprint(gs.Ino)
			if first, ok := inodes[ws.Ino]; ok && first != key {
				t.Errorf("%s: hardlink lost", rel)
			}
			inodes[ws.Ino] = key
		}
		return nil
	})
	filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(got, p)
		if err != nil || rel == "." || skip(rel) {
			return nil
		}
		if !seen[rel] {
			t.Errorf("%s: in the applied layer only", rel)
		}
		return nil
	})
}

// describe sums up an entry: type, mode, owner, and for a non-directory
// mtime (seconds), size, content or target.
func describe(p string, fi fs.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	s := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
	if fi.IsDir() {
		return s
	}
	s += fmt.Sprintf(" mtime %d size %d", fi.ModTime().Unix(), fi.Size())
	switch {
	case fi.Mode().IsRegular():
		b, _ := os.ReadFile(p)
		s += " " + digest.FromBytes(b).Encoded()[:12]
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		s += " -> " + target
	case fi.Mode()&fs.ModeDevice != 0:
		s += fmt.Sprintf(" dev %d", st.Rdev)
	}
	return s
}

func TestDiffChecksTheParent(t *testing.T) {
	for _, driver := range []string{snapshots.DriverOverlay, snapshots.DriverNative} {
		t.Run(driver, func(t *testing.T) {
			f := newFixture(t, driver)
			l := makeLayer(t, tent{name: "a", body: "a"})
			if _, err := f.ls.Apply(ctx, bytes.NewReader(l.blob), l.desc, l.diffID, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := f.ls.Mounts("ctr", l.diffID, false); err != nil {
				t.Fatal(err)
			}
			if _, err := f.ls.Changes(ctx, "ctr", digest.FromString("other")); !errdefs.IsConflict(err) {
				t.Errorf("Changes on another parent = %v, want a conflict", err)
			}
			if err := f.ls.Diff(ctx, io.Discard, "nosuch", l.diffID); !errdefs.IsNotFound(err) {
				t.Errorf("Diff of a missing snapshot = %v, want not found", err)
			}
			// The native driver's view of the parent is gone afterwards.
			if _, err := f.ls.Changes(ctx, "ctr", l.diffID); err != nil {
				t.Fatal(err)
			}
			if keys := f.snapshotKeys(t); len(keys) != 2 {
				t.Errorf("snapshots left: %v", keys)
			}
		})
	}
}

// BenchmarkDiff: a container that wrote one 5 MB file and 100 small ones.
func BenchmarkDiff(b *testing.B) {
	for _, driver := range []string{snapshots.DriverOverlay, snapshots.DriverNative} {
		b.Run(driver, func(b *testing.B) {
			f := newFixture(b, driver)
			var ents []tent
			for i := 0; i < 200; i++ {
				ents = append(ents, tent{name: fmt.Sprintf("usr/lib/f%03d", i), body: "lib"})
			}
			l := makeLayer(b, ents...)
			if _, err := f.ls.Apply(ctx, bytes.NewReader(l.blob), l.desc, l.diffID, ""); err != nil {
				b.Fatal(err)
			}
			ms, err := f.ls.Mounts("ctr", l.diffID, false)
			if err != nil {
				b.Fatal(err)
			}
			rootfs := b.TempDir()
			if err := snapshots.MountAll(ms, rootfs); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { snapshots.Unmount(rootfs) })
			big := make([]byte, 5<<20)
			rand.Read(big)
			os.MkdirAll(filepath.Join(rootfs, "data/small"), 0o755)
			if err := os.WriteFile(filepath.Join(rootfs, "data/big"), big, 0o644); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < 100; i++ {
				os.WriteFile(filepath.Join(rootfs, fmt.Sprintf("data/small/%03d", i)), []byte("small file"), 0o644)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := f.ls.Diff(ctx, io.Discard, "ctr", l.diffID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
