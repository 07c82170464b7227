package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: owners, device nodes and trusted xattrs")
	}
}

// entry is a tar entry for tests; body is the content of a regular file.
type entry struct {
	hdr  tar.Header
	body string
}

func mkTar(t testing.TB, es ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1600000000, 0)
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func dir(name string, mode int64) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}}
}
func file(name, body string, mode int64) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, body: body}
}
func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

// describe lists a tree, one line an entry: everything Apply promises to
// keep, so two trees compare as strings.
func describe(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o uid=%d gid=%d mtime=%d.%09d", rel, st.Mode, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" nlink=%d sha=%x", st.Nlink, sha256.Sum256(b))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if rel == "." {
			line = fmt.Sprintf(". mode=%o", st.Mode) // the root's times are the driver's
		}
		xs, err := listXattrs(p)
		if err != nil {
			return err
		}
		var keys []string
		for k := range xs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			line += fmt.Sprintf(" %s=%q", k, xs[k])
		}
		if opaque(p) {
			line += " opaque"
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "a/b", want: "a/b"},
		{in: "./a/b/", want: "a/b"},
		{in: "a/../b", want: "b"},
		{in: "./", want: "."},
		{in: "", bad: true},
		{in: "/etc/passwd", bad: true},
		{in: "..", bad: true},
		{in: "../x", bad: true},
		{in: "a/../../x", bad: true},
		{in: "a/./../..", bad: true},
	} {
		got, err := cleanName(tc.in)
		if tc.bad {
			if err == nil || !errdefs.IsInvalidArgument(err) {
				t.Errorf("cleanName(%q) = %q, %v; want an invalid-argument error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDecompress(t *testing.T) {
	payload := bytes.Repeat([]byte("layer data "), 100000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(payload)
	zw.Close()
	var zs bytes.Buffer
	ze, _ := zstd.NewWriter(&zs)
	ze.Write(payload)
	ze.Close()
	for _, tc := range []struct {
		name string
		in   []byte
		want Compression
	}{
		{"plain", payload, Uncompressed},
		{"gzip", gz.Bytes(), Gzip},
		{"zstd", zs.Bytes(), Zstd},
		{"empty", nil, Uncompressed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.in); got != tc.want {
				t.Fatalf("Detect = %v, want %v", got, tc.want)
			}
			r, err := Decompress(bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			want := payload
			if tc.in == nil {
				want = nil
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
	t.Run("truncated gzip", func(t *testing.T) {
		r, err := Decompress(bytes.NewReader(gz.Bytes()[:gz.Len()/2]))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := io.ReadAll(r); err == nil {
			t.Fatal("read a truncated gzip stream without error")
		}
	})
	t.Run("xz refused", func(t *testing.T) {
		if _, err := Decompress(bytes.NewReader(append([]byte{}, magicXz...))); !errdefs.IsInvalidArgument(err) {
			t.Fatalf("err = %v, want invalid argument", err)
		}
	})
}

func TestApplyFaithful(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	mt := time.Unix(1500000000, 123456789)
	at := time.Unix(1400000000, 987654321)
	es := []entry{
		dir("bin/", 0o755),
		{hdr: tar.Header{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 0, Gid: 0, ModTime: mt, AccessTime: at,
			PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
				"SCHILY.xattr.user.note": "hello"}}, body: "#!/bin/sh\n"},
		{hdr: tar.Header{Name: "bin/sg", Typeflag: tar.TypeReg, Mode: 0o2711, Uid: 1000, Gid: 50, ModTime: mt}, body: "x"},
		{hdr: tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "su", Uid: 7, Gid: 8, ModTime: mt, AccessTime: at,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.sym": "on the link"}}},
		hardlink("bin/su2", "bin/su"),
		{hdr: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, Uid: 3, Gid: 4, ModTime: mt}},
		{hdr: tar.Header{Name: "tmp/f", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: time.Unix(1700000000, 0)}, body: "in tmp"},
		{hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: mt}},
		{hdr: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8, Devminor: 0, Gid: 6, ModTime: mt}},
		{hdr: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o620, ModTime: mt}},
		{hdr: tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt, PAXRecords: map[string]string{"SCHILY.xattr.trusted.note": "dir"}}},
		{hdr: tar.Header{Name: "etc/x", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(1800000000, 0)}, body: "later"},
	}
	size, err := Apply(d, bytes.NewReader(mkTar(t, es...)), WhiteoutOverlay)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len("#!/bin/sh\n")+1+len("in tmp")+len("later")) {
		t.Errorf("size = %d", size)
	}
	check := func(p string, wantMode uint32, uid, gid uint32) *unix.Stat_t {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(d, p), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode != wantMode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: mode %o uid %d gid %d; want %o %d %d", p, st.Mode, st.Uid, st.Gid, wantMode, uid, gid)
		}
		return &st
	}
	st := check("bin/su", unix.S_IFREG|0o4755, 0, 0)
	if st.Nlink != 2 {
		t.Errorf("bin/su: %d links, want 2 (hardlink bin/su2)", st.Nlink)
	}
	if st.Mtim.Nano() != mt.UnixNano() || st.Atim.Nano() != at.UnixNano() {
		t.Errorf("bin/su: mtime %v atime %v", time.Unix(0, st.Mtim.Nano()), time.Unix(0, st.Atim.Nano()))
	}
	check("bin/sg", unix.S_IFREG|0o2711, 1000, 50)
	if xs, err := listXattrs(filepath.Join(d, "bin/sh")); err != nil || xs["trusted.sym"] != "on the link" {
		t.Errorf("bin/sh (symlink) xattrs = %q, %v", xs, err)
	}
	if xs, _ := listXattrs(filepath.Join(d, "bin/su")); xs["trusted.sym"] != "" {
		t.Error("the symlink's xattr landed on its target")
	}
	st = check("bin/sh", unix.S_IFLNK|0o777, 7, 8)
	if st.Mtim.Nano() != mt.UnixNano() || st.Atim.Nano() != at.UnixNano() {
		t.Errorf("bin/sh (symlink): own times not set: mtime %d", st.Mtim.Nano())
	}
	st = check("tmp", unix.S_IFDIR|0o1777, 3, 4)
	if st.Mtim.Nano() != mt.UnixNano() {
		t.Errorf("tmp: mtime %d, want %d (set after its contents)", st.Mtim.Nano(), mt.UnixNano())
	}
	st = check("dev/null", unix.S_IFCHR|0o666, 0, 0)
	if unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("dev/null: rdev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	st = check("dev/sda", unix.S_IFBLK|0o660, 0, 6)
	if unix.Major(st.Rdev) != 8 {
		t.Errorf("dev/sda: rdev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	check("run/fifo", unix.S_IFIFO|0o620, 0, 0)
	check("dev", unix.S_IFDIR|0o755, 0, 0) // made implicitly
	xs, err := listXattrs(filepath.Join(d, "bin/su"))
	if err != nil || xs["user.note"] != "hello" || xs["security.capability"] == "" {
		t.Errorf("bin/su xattrs = %q, %v", xs, err)
	}
	if xs, _ := listXattrs(filepath.Join(d, "etc")); xs["trusted.note"] != "dir" {
		t.Errorf("etc xattrs = %q", xs)
	}
}

func TestApplyReplaces(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	es := []entry{
		file("x", "first", 0o644),
		dir("x/", 0o755), // a directory replaces a file
		file("x/y", "y", 0o644),
		dir("q/", 0o700),
		file("q/child", "c", 0o644),
		file("q", "a file replaces a directory", 0o600),
		file("z", "z", 0o644),
		symlink("z", "x/y"), // a symlink replaces a file
		file("w", "old", 0o644),
		file("w", "new", 0o640), // a file replaces a file
		dir("k/", 0o700),
		file("k/keep", "kept", 0o644),
		dir("k/", 0o755), // a directory entry again keeps the contents
		symlink("s", "nowhere"),
		hardlink("h", "s"), // a hardlink to a symlink
	}
	if _, err := Apply(d, bytes.NewReader(mkTar(t, es...)), WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(d, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if read("x/y") != "y" || read("q") != "a file replaces a directory" || read("w") != "new" || read("k/keep") != "kept" {
		t.Error("replaced entries have the wrong content")
	}
	if target, err := os.Readlink(filepath.Join(d, "z")); err != nil || target != "x/y" {
		t.Errorf("z -> %q, %v", target, err)
	}
	if fi, _ := os.Stat(filepath.Join(d, "k")); fi.Mode().Perm() != 0o755 {
		t.Errorf("k mode %v", fi.Mode())
	}
	if target, err := os.Readlink(filepath.Join(d, "h")); err != nil || target != "nowhere" {
		t.Errorf("h -> %q, %v", target, err)
	}
}

func TestApplyRefusesEscapes(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		es   []entry
	}{
		{"dotdot", []entry{file("../escape", "x", 0o644)}},
		{"dotdot inside", []entry{dir("a/", 0o755), file("a/../../escape", "x", 0o644)}},
		{"absolute", []entry{file("/escape", "x", 0o644)}},
		{"through symlink out", []entry{symlink("s", ".."), file("s/escape", "x", 0o644)}},
		{"through absolute symlink", []entry{symlink("s", "/tmp"), file("s/escape", "x", 0o644)}},
		{"through symlink in", []entry{dir("d/", 0o755), symlink("s", "d"), file("s/escape", "x", 0o644)}},
		{"directory through symlink", []entry{symlink("s", ".."), dir("s/escape/", 0o755)}},
		{"symlink at parent of whiteout", []entry{symlink("s", ".."), file("s/.wh.escape", "", 0o644)}},
		{"hardlink out", []entry{hardlink("h", "../victim")}},
		{"hardlink through symlink", []entry{symlink("s", ".."), hardlink("h", "s/victim")}},
		{"bad whiteout", []entry{file(".wh...", "", 0o644)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outer := t.TempDir()
			victim := filepath.Join(outer, "victim")
			os.WriteFile(victim, []byte("victim"), 0o644)
			d := filepath.Join(outer, "layer")
			os.Mkdir(d, 0o755)
			_, err := Apply(d, bytes.NewReader(mkTar(t, tc.es...)), WhiteoutOverlay)
			if err == nil || !errdefs.IsInvalidArgument(err) {
				t.Fatalf("Apply = %v, want an invalid-argument error", err)
			}
			ents, _ := os.ReadDir(outer)
			if len(ents) != 2 {
				t.Errorf("something landed outside the layer: %v", ents)
			}
			if _, err := os.Stat(filepath.Join(outer, ".wh.escape")); err == nil {
				t.Error("whiteout outside the layer")
			}
			if _, err := os.Stat("/tmp/escape"); err == nil {
				t.Error("/tmp/escape written")
			}
		})
	}
}

func TestApplyWhiteoutsOverlay(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	es := []entry{
		dir("etc/", 0o755),
		file("etc/.wh.passwd", "", 0o644),
		dir("opt/", 0o755),
		file("opt/.wh..wh..opq", "", 0o644),
		file("opt/new", "n", 0o644),
		file(".wh.gone-dir", "", 0o644),
		file(".wh..wh.aufs", "", 0o600), // AUFS bookkeeping of old layers: skipped
		dir(".wh..wh.plnk/", 0o700),
		file(".wh..wh.plnk/123.456", "x", 0o600),
	}
	if _, err := Apply(d, bytes.NewReader(mkTar(t, es...)), WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/passwd", "gone-dir"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(d, p), &st); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want a 0/0 character device", p, st.Mode, st.Rdev)
		}
	}
	if !opaque(filepath.Join(d, "opt")) {
		t.Error("opt is not marked opaque")
	}
	if ents, _ := os.ReadDir(d); len(ents) != 3 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("top level holds %v, want etc, gone-dir, opt", names)
	}
	if _, err := os.Stat(filepath.Join(d, "opt/.wh..wh..opq")); err == nil {
		t.Error("the opaque marker file was written")
	}
	if b, _ := os.ReadFile(filepath.Join(d, "opt/new")); string(b) != "n" {
		t.Error("opt/new missing")
	}
}

func TestApplyWhiteoutsApply(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	base := mkTar(t, dir("etc/", 0o755), file("etc/passwd", "root", 0o644), file("etc/keep", "k", 0o644),
		dir("opt/", 0o755), file("opt/old", "o", 0o644), dir("opt/sub/", 0o755), file("opt/sub/deep", "d", 0o644),
		dir("var/", 0o755), file("var/x", "x", 0o644),
		dir("srv/", 0o755), dir("srv/www/", 0o755), file("srv/www/old", "o", 0o644))
	if _, err := Apply(d, bytes.NewReader(base), WhiteoutApply); err != nil {
		t.Fatal(err)
	}
	upper := mkTar(t,
		file("etc/.wh.passwd", "", 0o644),
		dir("opt/", 0o755),
		file("opt/new", "n", 0o644),
		file("opt/.wh..wh..opq", "", 0o644), // after an entry of this layer: that entry stays
		file(".wh.var", "", 0o644),
		file("nothere/.wh.x", "", 0o644), // whiteout in a missing directory: nothing to do
		file("srv/www/new", "n", 0o644),  // no entry for srv/ nor srv/www/: parents of ours
		file("srv/.wh..wh..opq", "", 0o644),
	)
	if _, err := Apply(d, bytes.NewReader(upper), WhiteoutApply); err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Lstat(filepath.Join(d, p)); return err == nil }
	for p, want := range map[string]bool{
		"etc/passwd": false, "etc/keep": true, "opt/old": false, "opt/sub": false, "opt/new": true,
		"var": false, "nothere": false, "srv/www/new": true, "srv/www/old": false, "etc/.wh.passwd": false, "opt/.wh..wh..opq": false,
	} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", p, !want, want)
		}
	}
}

func TestTarRoundTrip(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	mt := time.Unix(1500000000, 0)
	es := []entry{
		dir("a/", 0o755),
		{hdr: tar.Header{Name: "a/f", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 5, Gid: 6, ModTime: mt,
			PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, body: strings.Repeat("data", 1000)},
		hardlink("a/g", "a/f"),
		symlink("a/l", "f"),
		dir("d/", 0o755),
		{hdr: tar.Header{Name: "d/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: mt}},
		{hdr: tar.Header{Name: "p", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: mt}},
		file("a/.wh.gone", "", 0o644),
		dir("o/", 0o700),
		file("o/.wh..wh..opq", "", 0o644),
	}
	if _, err := Apply(src, bytes.NewReader(mkTar(t, es...)), WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	var b1, b2 bytes.Buffer
	if err := Tar(&b1, src); err != nil {
		t.Fatal(err)
	}
	if err := Tar(&b2, src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("Tar is not deterministic")
	}
	dst := t.TempDir()
	if _, err := Apply(dst, bytes.NewReader(b1.Bytes()), WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	if a, b := describe(t, src), describe(t, dst); a != b {
		t.Errorf("trees differ after a round trip:\n%s\n---\n%s", a, b)
	}
}

func TestCopyExact(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	mt := time.Unix(1500000000, 123456789)
	es := []entry{
		dir("a/", 0o750),
		{hdr: tar.Header{Name: "a/f", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 5, Gid: 6, ModTime: mt, AccessTime: mt,
			PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, body: "data"},
		hardlink("a/g", "a/f"),
		{hdr: tar.Header{Name: "a/l", Typeflag: tar.TypeSymlink, Linkname: "f", ModTime: mt}},
		{hdr: tar.Header{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o600, ModTime: mt}}, // a 0/0 device stays
	}
	if _, err := Apply(src, bytes.NewReader(mkTar(t, es...)), WhiteoutApply); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if a, b := describe(t, src), describe(t, dst); a != b {
		t.Errorf("copy differs:\n%s\n---\n%s", a, b)
	}
}

// Old tars mark regular files with type '\x00' (TypeRegA).
func TestApplyOldRegularType(t *testing.T) {
	requireRoot(t)
	b := mkTar(t, file("old", "v7", 0o644))
	// PAX headers come first: find the file's own header by name.
	off := bytes.Index(b, []byte("old\x00"))
	if off < 0 || off%512 != 0 {
		t.Fatalf("header not found (%d)", off)
	}
	h := b[off : off+512]
	h[156] = 0
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	d := t.TempDir()
	if _, err := Apply(d, bytes.NewReader(b), WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(d, "old")); string(got) != "v7" {
		t.Errorf("old = %q", got)
	}
}
