package buildcontext

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"lukechampine.com/blake3"
)

// writeTree makes files (name -> content; a name ending in "/" is a
// directory) under a new directory.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type tarEntry struct {
	hdr  *tar.Header
	body string
}

func readTar(t testing.TB, b []byte) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out = append(out, tarEntry{hdr, string(body)})
	}
}

func names(es []tarEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.hdr.Name)
	}
	return out
}

func TestTarIgnore(t *testing.T) {
	base := map[string]string{
		"Dockerfile":        "FROM x\n",
		"a.txt":             "a",
		"b.log":             "b",
		"keep.log":          "k",
		"sub/c.txt":         "c",
		"sub/d.log":         "d",
		"sub/deep/e.tmp":    "e",
		"node_modules/m.js": "m",
		"empty/":            "",
	}
	tests := []struct {
		name       string
		ignore     string // "" = no .dockerignore
		dockerfile string
		want       []string
		wantDF     string
	}{
		{
			name: "no .dockerignore",
			want: []string{"Dockerfile", "a.txt", "b.log", "empty/", "keep.log", "node_modules/", "node_modules/m.js",
				"sub/", "sub/c.txt", "sub/d.log", "sub/deep/", "sub/deep/e.tmp"},
		},
		{
			name:   "exclusion and exception",
			ignore: "*.log\n!keep.log\n",
			want: []string{".dockerignore", "Dockerfile", "a.txt", "empty/", "keep.log", "node_modules/", "node_modules/m.js",
				"sub/", "sub/c.txt", "sub/d.log", "sub/deep/", "sub/deep/e.tmp"},
		},
		{
			name:   "double star",
			ignore: "**/*.log\n**/*.tmp\n",
			want: []string{".dockerignore", "Dockerfile", "a.txt", "empty/", "node_modules/", "node_modules/m.js",
				"sub/", "sub/c.txt", "sub/deep/"},
		},
		{
			name:   "excluded directory skipped whole",
			ignore: "node_modules\nsub\n# a comment\n/empty\n",
			want:   []string{".dockerignore", "Dockerfile", "a.txt", "b.log", "keep.log"},
		},
		{
			name:   "exception inside an excluded directory",
			ignore: "sub\n!sub/deep/e.tmp\n",
			want: []string{".dockerignore", "Dockerfile", "a.txt", "b.log", "empty/", "keep.log", "node_modules/", "node_modules/m.js",
				"sub/deep/e.tmp"},
		},
		{
			name:   "everything but one file",
			ignore: "*\n!a.txt\n",
			want:   []string{".dockerignore", "Dockerfile", "a.txt"},
		},
		{
			// Docker's CLI looks only for exceptions that start with the
			// directory: a wildcard one does not keep it open.
			name:   "wildcard exception does not open a skipped directory",
			ignore: "sub\n!*/c.txt\n",
			want:   []string{".dockerignore", "Dockerfile", "a.txt", "b.log", "empty/", "keep.log", "node_modules/", "node_modules/m.js"},
		},
		{
			name:   "Dockerfile and .dockerignore always sent",
			ignore: "Dockerfile\n.dockerignore\n*.txt\nsub\nnode_modules\nempty\n*.log\n",
			want:   []string{".dockerignore", "Dockerfile"},
		},
		{
			name:       "custom Dockerfile in an excluded directory",
			ignore:     "sub\n",
			dockerfile: "sub/c.txt",
			want: []string{".dockerignore", "Dockerfile", "a.txt", "b.log", "empty/", "keep.log", "node_modules/", "node_modules/m.js",
				"sub/c.txt"},
			wantDF: "sub/c.txt",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range base {
				files[k] = v
			}
			if tc.ignore != "" {
				files[".dockerignore"] = tc.ignore
			}
			root := writeTree(t, files)
			df := ""
			if tc.dockerfile != "" {
				df = filepath.Join(root, tc.dockerfile)
			}
			var buf bytes.Buffer
			got, err := Tar(root, df, &buf)
			if err != nil {
				t.Fatal(err)
			}
			wantDF := tc.wantDF
			if wantDF == "" {
				wantDF = "Dockerfile"
			}
			if got != wantDF {
				t.Errorf("dockerfile in context %q, want %q", got, wantDF)
			}
			es := readTar(t, buf.Bytes())
			if n := names(es); !reflect.DeepEqual(n, tc.want) {
				t.Errorf("entries\n got %v\nwant %v", n, tc.want)
			}
			for _, e := range es {
				if e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" || e.hdr.Gname != "" {
					t.Errorf("%s: owner %d:%d (%q:%q), want 0:0", e.hdr.Name, e.hdr.Uid, e.hdr.Gid, e.hdr.Uname, e.hdr.Gname)
				}
			}
			// Same tree, same bytes.
			var again bytes.Buffer
			if _, err := Tar(root, df, &again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("two tars of the same tree differ")
			}
		})
	}
}

func TestTarLinks(t *testing.T) {
	root := writeTree(t, map[string]string{"Dockerfile": "FROM x\n", "a": "hello"})
	if err := os.Link(filepath.Join(root, "a"), filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "s")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Tar(root, "", &buf); err != nil {
		t.Fatal(err)
	}
	es := readTar(t, buf.Bytes())
	want := map[string][2]string{ // name -> type, link
		"Dockerfile": {string(tar.TypeReg), ""},
		"a":          {string(tar.TypeReg), ""},
		"b":          {string(tar.TypeLink), "a"},
		"s":          {string(tar.TypeSymlink), "/etc/passwd"},
	}
	for _, e := range es {
		w := want[e.hdr.Name]
		if string(e.hdr.Typeflag) != w[0] || e.hdr.Linkname != w[1] {
			t.Errorf("%s: type %q link %q, want %q %q", e.hdr.Name, e.hdr.Typeflag, e.hdr.Linkname, w[0], w[1])
		}
	}
}

func TestTarDockerfileOutside(t *testing.T) {
	tests := []struct {
		name   string
		ignore string
	}{
		{"without .dockerignore", ""},
		{"with .dockerignore", "*.log\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"a.txt": "a", "b.log": "b"}
			if tc.ignore != "" {
				files[".dockerignore"] = tc.ignore
			}
			root := writeTree(t, files)
			elsewhere := writeTree(t, map[string]string{"Dockerfile": "FROM outside\n"})
			var buf bytes.Buffer
			name, err := Tar(root, filepath.Join(elsewhere, "Dockerfile"), &buf)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(name, ".dockerfile.") || len(name) != len(".dockerfile.")+20 {
				t.Fatalf("name in context %q", name)
			}
			// The daemon reads it, then drops it through .dockerignore.
			c, err := Open(context.Background(), bytes.NewReader(buf.Bytes()), t.TempDir(), name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if string(c.Dockerfile()) != "FROM outside\n" {
				t.Errorf("Dockerfile %q", c.Dockerfile())
			}
			want := []string{".dockerignore", "a.txt"}
			if tc.ignore == "" {
				// The .dockerignore made for it excludes itself too.
				want = []string{"a.txt", "b.log"}
			}
			if got := listTree(t, c.Dir()); !reflect.DeepEqual(got, want) {
				t.Errorf("context %v, want %v", got, want)
			}
		})
	}
}

func TestTarWithDockerfile(t *testing.T) {
	root := writeTree(t, map[string]string{"Dockerfile": "FROM in-dir\n", ".dockerignore": "Dockerfile\n", "a": "a"})
	var buf bytes.Buffer
	name := DockerfileName()
	if err := TarWithDockerfile(root, []byte("FROM stdin\n"), name, &buf); err != nil {
		t.Fatal(err)
	}
	// An excluded Dockerfile in the directory is not sent: it is not the
	// one used.
	es := names(readTar(t, buf.Bytes()))
	if want := []string{".dockerignore", "a", name}; !reflect.DeepEqual(es, want) {
		t.Fatalf("entries %v, want %v", es, want)
	}
	c, err := Open(context.Background(), &buf, t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if string(c.Dockerfile()) != "FROM stdin\n" {
		t.Errorf("Dockerfile %q", c.Dockerfile())
	}
	if got, want := listTree(t, c.Dir()), []string{".dockerignore", "a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("context %v, want %v", got, want)
	}
}

func TestTarErrors(t *testing.T) {
	root := writeTree(t, map[string]string{"a": "a", "f": "x"})
	tests := []struct {
		name, dir, dockerfile, want string
	}{
		{"no Dockerfile", root, "", "unable to evaluate symlinks in Dockerfile path"},
		{"missing -f", root, filepath.Join(root, "nope"), "unable to evaluate symlinks in Dockerfile path"},
		{"missing context", filepath.Join(root, "nope"), "", "unable to evaluate symlinks in context path"},
		{"context is a file", filepath.Join(root, "f"), "", "context must be a directory"},
	}
	for _, tc := range tests {
		_, err := Tar(tc.dir, tc.dockerfile, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestReadIgnore(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"missing", "", nil},
		{"patterns", "\ufeff# comment\n  *.log  \n/abs/path\n!  keep\n\n./a/../b\n", []string{"*.log", "abs/path", "!keep", "b"}},
	}
	for _, tc := range tests {
		files := map[string]string{}
		if tc.content != "" {
			files[".dockerignore"] = tc.content
		}
		got, err := ReadIgnore(writeTree(t, files))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestRoundTrip sends a directory through Tar and Open and checks the
// sums against the files.
func TestRoundTrip(t *testing.T) {
	root := benchTree(t)
	var buf bytes.Buffer
	if _, err := Tar(root, "", &buf); err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), &buf, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		data, _ := os.ReadFile(p)
		h := blake3.Sum256(data)
		if got, _ := c.ContentSum(filepath.ToSlash(rel)); got != "blake3:"+hex.EncodeToString(h[:]) {
			t.Errorf("%s: sum %s", rel, got)
		}
		got, err := os.ReadFile(filepath.Join(c.Dir(), rel))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: content differs (%v)", rel, err)
		}
		n++
		return nil
	})
	if n != 52 {
		t.Errorf("%d files checked, want 52", n)
	}
}

func TestSkipDecision(t *testing.T) {
	tests := []struct {
		patterns []string
		dir      string
		open     bool // an exception may match inside: descend
	}{
		{[]string{"sub"}, "sub", false},
		{[]string{"sub", "!sub/keep"}, "sub", true},
		{[]string{"sub", "!sub/deep/keep"}, "sub", true},
		{[]string{"sub", "!subway/keep"}, "sub", false},
		{[]string{"*", "!*/keep"}, "sub", false}, // Docker's prefix test: wildcards do not open
		{[]string{"a/b", "!a/b"}, "a/b", true},
	}
	for _, tc := range tests {
		pm, err := patternmatcher.New(tc.patterns)
		if err != nil {
			t.Fatal(err)
		}
		tw := &tarWriter{pm: pm}
		if got := tw.exceptionUnder(tc.dir); got != tc.open {
			t.Errorf("%v, %s: descend %v, want %v", tc.patterns, tc.dir, got, tc.open)
		}
	}
}

func TestKeepBuildFiles(t *testing.T) {
	tests := []struct {
		excludes   []string
		dockerfile string
		want       []string
	}{
		{nil, "Dockerfile", nil},
		{[]string{"*.md"}, "Dockerfile", []string{"*.md"}},
		{[]string{"*"}, "Dockerfile", []string{"*", "!.dockerignore", "!Dockerfile"}},
		{[]string{"build"}, "build/Dockerfile", []string{"build", "!build/Dockerfile"}},
		{[]string{".dockerignore"}, "", []string{".dockerignore", "!.dockerignore"}},
	}
	for _, tc := range tests {
		if got := keepBuildFiles(tc.excludes, tc.dockerfile); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v, %s: %v, want %v", tc.excludes, tc.dockerfile, got, tc.want)
		}
	}
}
