package buildcontext

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"lukechampine.com/blake3"
)

// entry describes one tar entry for tests.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeLink, mode: 0o644}
}

var testTime = time.Unix(1700000000, 0)

func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link,
			Size: int64(len(e.body)), ModTime: testTime, Uid: 1000, Gid: 1000}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sumOf(s string) string {
	h := blake3.Sum256([]byte(s))
	return "blake3:" + hex.EncodeToString(h[:])
}

// listTree returns the slash paths under root, directories with a "/".
func listTree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out
}

func TestOpen(t *testing.T) {
	df := "FROM busybox\n"
	tests := []struct {
		name       string
		entries    []entry
		dockerfile string
		wantErr    string
		wantDF     string
		wantTree   []string
		wantSums   map[string]string // "" value: no sum
	}{
		{
			name:     "plain",
			entries:  []entry{file("Dockerfile", df), dir("sub"), file("sub/a.txt", "aaa"), symlink("ln", "sub/a.txt")},
			wantDF:   df,
			wantTree: []string{"Dockerfile", "ln", "sub/", "sub/a.txt"},
			wantSums: map[string]string{"sub/a.txt": sumOf("aaa"), "Dockerfile": sumOf(df), "ln": "", "sub": ""},
		},
		{
			name:     "implicit parents and ./ names",
			entries:  []entry{file("./Dockerfile", df), file("./a/b/c", "c")},
			wantDF:   df,
			wantTree: []string{"Dockerfile", "a/", "a/b/", "a/b/c"},
			wantSums: map[string]string{"a/b/c": sumOf("c"), "./a/b/c": sumOf("c"), "/a/b/c": sumOf("c")},
		},
		{
			name:     "lower-case dockerfile",
			entries:  []entry{file("dockerfile", df)},
			wantDF:   df,
			wantTree: []string{"dockerfile"},
		},
		{
			name:       "dockerfile parameter",
			entries:    []entry{file("build/Custom", df), file("Dockerfile", "FROM other\n")},
			dockerfile: "build/Custom",
			wantDF:     df,
			wantTree:   []string{"Dockerfile", "build/", "build/Custom"},
		},
		{
			name:       "no lower-case fallback for a named file",
			entries:    []entry{file("custom", df)},
			dockerfile: "Custom",
			wantErr:    "Cannot locate specified Dockerfile: Custom",
		},
		{
			name:    "missing Dockerfile",
			entries: []entry{file("a", "a")},
			wantErr: "Cannot locate specified Dockerfile: Dockerfile",
		},
		{
			name:    "empty Dockerfile",
			entries: []entry{file("Dockerfile", "")},
			wantErr: "the Dockerfile (Dockerfile) cannot be empty",
		},
		{
			name:     "hardlink shares the sum",
			entries:  []entry{file("Dockerfile", df), file("a", "x"), hardlink("b", "a")},
			wantDF:   df,
			wantTree: []string{"Dockerfile", "a", "b"},
			wantSums: map[string]string{"a": sumOf("x"), "b": sumOf("x")},
		},
		{
			name: "a later entry replaces an earlier one",
			entries: []entry{file("Dockerfile", df), dir("d"), file("d/x", "1"), file("d", "now a file"),
				file("f", "old"), file("f", "new")},
			wantDF:   df,
			wantTree: []string{"Dockerfile", "d", "f"},
			wantSums: map[string]string{"d": sumOf("now a file"), "d/x": "", "f": sumOf("new")},
		},
		{
			name:     "ignored Dockerfile and .dockerignore removed",
			entries:  []entry{file(".dockerignore", "Dockerfile\n.dockerignore\n*.md\n"), file("Dockerfile", df), file("keep", "k")},
			wantDF:   df,
			wantTree: []string{"keep"},
			wantSums: map[string]string{"Dockerfile": "", ".dockerignore": "", "keep": sumOf("k")},
		},
		{
			name:       "ignored Dockerfile in a directory removed",
			entries:    []entry{file(".dockerignore", "build\n"), file("build/Dockerfile", df)},
			dockerfile: "build/Dockerfile",
			wantDF:     df,
			wantTree:   []string{".dockerignore", "build/"},
		},
		{
			name:     "not ignored: kept",
			entries:  []entry{file(".dockerignore", "*.md\n"), file("Dockerfile", df)},
			wantDF:   df,
			wantTree: []string{".dockerignore", "Dockerfile"},
		},
		{
			name:    "absolute names refused",
			entries: []entry{file("/Dockerfile", df), file("/etc/passwd", "x")},
			wantErr: "absolute path",
		},
		{
			name:     "symlinks kept verbatim, Dockerfile symlink resolved inside",
			entries:  []entry{file("real", df), symlink("Dockerfile", "/real"), symlink("up", "../../../etc")},
			wantDF:   df,
			wantTree: []string{"Dockerfile", "real", "up"},
		},
		{
			name:    "dot-dot name refused",
			entries: []entry{file("Dockerfile", df), file("../escape", "x")},
			wantErr: "path escapes",
		},
		{
			name:    "dot-dot inside name refused",
			entries: []entry{file("a/../../escape", "x")},
			wantErr: "path escapes",
		},
		{
			name:    "path through a symlink refused",
			entries: []entry{symlink("l", "/tmp"), file("l/escape", "x")},
			wantErr: "refusing a path through it",
		},
		{
			name:    "path through a relative symlink refused",
			entries: []entry{symlink("l", "../../.."), file("l/escape", "x")},
			wantErr: "refusing a path through it",
		},
		{
			name:    "hardlink out refused",
			entries: []entry{hardlink("h", "../../etc/passwd")},
			wantErr: "path escapes",
		},
		{
			name:    "hardlink through a symlink refused",
			entries: []entry{symlink("l", "/etc"), hardlink("h", "l/passwd")},
			wantErr: "refusing a path through it",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			c, err := Open(context.Background(), bytes.NewReader(makeTar(t, tc.entries...)), parent, tc.dockerfile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if left := listTree(t, parent); len(left) != 0 {
					t.Fatalf("left behind after an error: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if string(c.Dockerfile()) != tc.wantDF {
				t.Errorf("Dockerfile %q, want %q", c.Dockerfile(), tc.wantDF)
			}
			if got := listTree(t, c.Dir()); strings.Join(got, ",") != strings.Join(tc.wantTree, ",") {
				t.Errorf("tree %v, want %v", got, tc.wantTree)
			}
			for rel, want := range tc.wantSums {
				got, ok := c.ContentSum(rel)
				if got != want || ok != (want != "") {
					t.Errorf("ContentSum(%q) = %q, %v; want %q", rel, got, ok, want)
				}
			}
			if len(listTree(t, parent)) == 0 || filepath.Dir(c.Dir()) != parent {
				t.Errorf("context %s is not under %s", c.Dir(), parent)
			}
		})
	}
}

func TestOpenAttributes(t *testing.T) {
	parent := t.TempDir()
	body := makeTar(t, file("Dockerfile", "FROM x\n"),
		entry{name: "ro/", typ: tar.TypeDir, mode: 0o555},
		entry{name: "ro/run", typ: tar.TypeReg, mode: 0o4755, body: "#!/bin/sh\n"})
	c, err := Open(context.Background(), bytes.NewReader(body), parent, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rel  string
		mode fs.FileMode
	}{
		{"ro", fs.ModeDir | 0o555},
		{"ro/run", fs.ModeSetuid | 0o755},
		{"Dockerfile", 0o644},
	} {
		fi, err := os.Lstat(filepath.Join(c.Dir(), tc.rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.rel, fi.Mode(), tc.mode)
		}
		if !fi.ModTime().Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", tc.rel, fi.ModTime(), testTime)
		}
		if os.Geteuid() == 0 {
			// The tar's owners, kept (the CLI sends 0:0).
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != 1000 || st.Gid != 1000 {
				t.Errorf("%s: owner %d:%d, want the tar's 1000:1000", tc.rel, st.Uid, st.Gid)
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if left := listTree(t, parent); len(left) != 0 {
		t.Fatalf("Close left %v", left)
	}
}

func TestOpenBodies(t *testing.T) {
	df := "FROM busybox\nRUN true\n"
	plain := makeTar(t, file("Dockerfile", df), file("a", "aaa"))
	compress := func(tool string, args ...string) func(testing.TB) []byte {
		return func(t testing.TB) []byte {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s not installed", tool)
			}
			cmd := exec.Command(tool, args...)
			cmd.Stdin = bytes.NewReader(plain)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	tests := []struct {
		name     string
		body     func(testing.TB) []byte
		wantDF   string
		wantTree []string
		wantErr  string
	}{
		{"tar", func(testing.TB) []byte { return plain }, df, []string{"Dockerfile", "a"}, ""},
		{"gzip", func(t testing.TB) []byte {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(plain)
			zw.Close()
			return b.Bytes()
		}, df, []string{"Dockerfile", "a"}, ""},
		{"zstd", func(t testing.TB) []byte {
			zw, _ := zstd.NewWriter(nil)
			return zw.EncodeAll(plain, nil)
		}, df, []string{"Dockerfile", "a"}, ""},
		{"bzip2", compress("bzip2", "-c"), df, []string{"Dockerfile", "a"}, ""},
		{"xz", compress("xz", "-c"), df, []string{"Dockerfile", "a"}, ""},
		{"stdin Dockerfile", func(testing.TB) []byte { return []byte(df) }, df, nil, ""},
		{"stdin one-line Dockerfile", func(testing.TB) []byte { return []byte("FROM x") }, "FROM x", nil, ""},
		{"empty body", func(testing.TB) []byte { return nil }, "", nil, "Cannot locate specified Dockerfile: Dockerfile"},
		{"empty tar", func(t testing.TB) []byte { return makeTar(t) }, "", nil, "Cannot locate specified Dockerfile: Dockerfile"},
		{"ends in the last entry's padding", func(testing.TB) []byte { return plain[:700] }, df, []string{"Dockerfile"}, ""},
		{"truncated in content", func(testing.TB) []byte { return plain[:520] }, "", nil, "truncated"},
		// Docker's CLI sends a context with an outside Dockerfile so, and
		// dockerd takes it: a stream may end after its last entry.
		{"ends at an entry's end", func(testing.TB) []byte { return plain[:1024] }, df, []string{"Dockerfile"}, ""},
		{"truncated before an entry's content", func(testing.TB) []byte { return plain[:1536] }, "", nil, "truncated"},
		{"one zero block as marker", func(testing.TB) []byte { return plain[:len(plain)-512] }, df, []string{"Dockerfile", "a"}, ""},
		{"not a tar after all", func(testing.TB) []byte { return append(append([]byte{}, plain[:512]...), []byte("junk")...) }, "", nil, "truncated"},
		{"truncated gzip", func(t testing.TB) []byte {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(makeTar(t, file("Dockerfile", df), file("big", strings.Repeat("x", 100000))))
			zw.Close()
			return b.Bytes()[:b.Len()/2]
		}, "", nil, "build context"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			c, err := Open(context.Background(), bytes.NewReader(tc.body(t)), parent, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if left := listTree(t, parent); len(left) != 0 {
					t.Fatalf("left behind after an error: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if string(c.Dockerfile()) != tc.wantDF {
				t.Errorf("Dockerfile %q, want %q", c.Dockerfile(), tc.wantDF)
			}
			if got := listTree(t, c.Dir()); strings.Join(got, ",") != strings.Join(tc.wantTree, ",") {
				t.Errorf("tree %v, want %v", got, tc.wantTree)
			}
		})
	}
}

func TestOpenCanceled(t *testing.T) {
	parent := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Open(ctx, bytes.NewReader(makeTar(t, file("Dockerfile", "FROM x\n"))), parent, "")
	if err == nil {
		t.Fatal("Open with a canceled context succeeded")
	}
	if left := listTree(t, parent); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestIsTarBlock(t *testing.T) {
	hdr := makeTar(t, file("a", "x"))[:512]
	tests := []struct {
		name  string
		block []byte
		want  bool
	}{
		{"header", hdr, true},
		{"zeros", make([]byte, 512), true},
		{"short", hdr[:100], false},
		{"text", bytes.Repeat([]byte("FROM busybox\n"), 50)[:512], false},
		{"bad checksum", append(append([]byte{}, hdr[:148]...), append([]byte("0000000\x00"), hdr[156:]...)...), false},
	}
	for _, tc := range tests {
		if got := isTarBlock(tc.block); got != tc.want {
			t.Errorf("%s: isTarBlock = %v, want %v", tc.name, got, tc.want)
		}
	}
}
