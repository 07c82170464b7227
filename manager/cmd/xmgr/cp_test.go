package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseCpArgs(t *testing.T) {
	tests := []struct {
		src, dst string
		s, d     cpEnd
		err      string
	}{
		{"web:/etc/hosts", ".", cpEnd{"web", "/etc/hosts"}, cpEnd{"", "."}, ""},
		{"/tmp/x", "web:/x", cpEnd{"", "/tmp/x"}, cpEnd{"web", "/x"}, ""},
		{"-", "web:/tmp", cpEnd{"", "-"}, cpEnd{"web", "/tmp"}, ""},
		{"web:/tmp", "-", cpEnd{"web", "/tmp"}, cpEnd{"", "-"}, ""},
		{"./a:b", "web:/", cpEnd{"", "./a:b"}, cpEnd{"web", "/"}, ""},
		{"/a:b", "web:/", cpEnd{"", "/a:b"}, cpEnd{"web", "/"}, ""},
		{"web:rel/path", "out", cpEnd{"web", "rel/path"}, cpEnd{"", "out"}, ""},
		{"a", "b", cpEnd{}, cpEnd{}, "must specify at least one container source"},
		{"a:/x", "b:/y", cpEnd{}, cpEnd{}, "copying between containers is not supported"},
		{"a:", "/y", cpEnd{}, cpEnd{}, "source can not be empty"},
		{"/y", "a:", cpEnd{}, cpEnd{}, "destination can not be empty"},
		{"web:-", "/y", cpEnd{}, cpEnd{}, "cannot be \"-\""},
	}
	for _, tt := range tests {
		s, d, err := parseCpArgs(tt.src, tt.dst)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("cp %s %s: error %v, want %q", tt.src, tt.dst, err, tt.err)
			}
			continue
		}
		if err != nil || s != tt.s || d != tt.d {
			t.Errorf("cp %s %s = %+v %+v %v", tt.src, tt.dst, s, d, err)
		}
	}
}

func TestLocalTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dst                  string
		srcIsDir, srcContent bool
		dir, top, err        string
	}{
		{dir, false, false, dir, "hosts", ""}, // into an existing directory
		{dir, true, true, dir, "", ""},        // a directory's contents into one
		{file, false, false, dir, "file", ""}, // over an existing file
		{file, true, false, "", "", "cannot copy a directory to a file"},
		{dir + "/new", false, false, dir, "new", ""}, // a new file
		{dir + "/new/", true, false, dir, "new", ""}, // a new directory
		{dir + "/new/", false, false, "", "", "does not exist"},
		{dir + "/no/new", false, false, "", "", "does not exist"},
	}
	for _, tt := range tests {
		d, top, err := localTarget(tt.dst, "hosts", tt.srcIsDir, tt.srcContent)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("localTarget(%s, dir=%v): error %v, want %q", tt.dst, tt.srcIsDir, err, tt.err)
			}
			continue
		}
		if err != nil || d != tt.dir || top != tt.top {
			t.Errorf("localTarget(%s, dir=%v) = %q %q %v, want %q %q", tt.dst, tt.srcIsDir, d, top, err, tt.dir, tt.top)
		}
	}
}

func TestReplaceTop(t *testing.T) {
	tests := []struct {
		prefix, top string
		names, want []string
	}{
		// cp web:/etc conf
		{"etc", "conf", []string{"etc", "etc/hosts", "etc/ssl/certs", "other", "etcetera"},
			[]string{"conf", "conf/hosts", "conf/ssl/certs"}},
		// cp web:/etc existing-dir/. : the contents
		{"etc", "", []string{"etc", "etc/hosts", "etc/ssl/certs"}, []string{"hosts", "ssl/certs"}},
		// cp web:/etc/. new : the daemon names the contents ".", "hosts"...
		{"", "new", []string{".", "hosts", "./ssl/certs"}, []string{"new", "new/hosts", "new/ssl/certs"}},
		{"", "", []string{".", "hosts"}, []string{"hosts"}},
		// Names that climb out are cleaned before anything else.
		{"etc", "d", []string{"etc/../../etc/passwd", "../../x"}, []string{"d/passwd"}},
	}
	for _, tt := range tests {
		rename := replaceTop(tt.prefix, tt.top)
		var got []string
		for _, n := range tt.names {
			if r, ok := rename(n); ok {
				got = append(got, r)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("replaceTop(%q, %q): %v, want %v", tt.prefix, tt.top, got, tt.want)
		}
	}
	for p, want := range map[string]string{"/etc/hosts": "hosts", "/etc/": "etc", "/etc/.": "", "/": "", "etc": "etc", ".": ""} {
		if got := tarPrefix(p); got != want {
			t.Errorf("tarPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}

// tarNames lists a tar's entries as "name type size".
func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, h.Name+" "+string(h.Typeflag)+" "+string(data))
	}
}

func TestWriteTree(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "a"), []byte("A"), 0o644))
	must(os.WriteFile(filepath.Join(src, "sub", "b"), []byte("B"), 0o600))
	must(os.Symlink("a", filepath.Join(src, "link")))

	tree := func(root, top string) []string {
		info, err := os.Lstat(root)
		must(err)
		var b bytes.Buffer
		must(writeTree(&b, root, info, top))
		return tarNames(t, b.Bytes())
	}
	if got, want := tree(src, "data"), []string{"data/ 5 ", "data/a 0 A", "data/link 2 ", "data/sub/ 5 ", "data/sub/b 0 B"}; !reflect.DeepEqual(got, want) {
		t.Errorf("directory tree:\n%q\nwant\n%q", got, want)
	}
	if got, want := tree(src, ""), []string{"a 0 A", "link 2 ", "sub/ 5 ", "sub/b 0 B"}; !reflect.DeepEqual(got, want) {
		t.Errorf("directory contents:\n%q\nwant\n%q", got, want)
	}
	if got, want := tree(filepath.Join(src, "sub", "b"), "renamed"), []string{"renamed 0 B"}; !reflect.DeepEqual(got, want) {
		t.Errorf("one file: %q, want %q", got, want)
	}
	if got, want := tree(filepath.Join(src, "link"), "l"), []string{"l 2 "}; !reflect.DeepEqual(got, want) {
		t.Errorf("a link: %q, want %q", got, want)
	}

	// Round trip: what the daemon would send back lands renamed.
	var b bytes.Buffer
	info, _ := os.Lstat(src)
	must(writeTree(&b, src, info, "data"))
	var rebased bytes.Buffer
	must(rebaseTar(&rebased, &b, replaceTop("data", "copy")))
	if got := tarNames(t, rebased.Bytes()); got[0] != "copy 5 " || got[4] != "copy/sub/b 0 B" {
		t.Errorf("rebased: %q", got)
	}
}
