package copier

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mk builds a tree under root from specs: "dir/", "file=content",
// "link->target" (later specs may rely on earlier ones).
func mk(t testing.TB, root string, specs ...string) {
	t.Helper()
	for _, s := range specs {
		switch {
		case strings.Contains(s, "->"):
			name, target, _ := strings.Cut(s, "->")
			p := filepath.Join(root, name)
			must(t, os.MkdirAll(filepath.Dir(p), 0755))
			must(t, os.Symlink(target, p))
		case strings.HasSuffix(s, "/"):
			must(t, os.MkdirAll(filepath.Join(root, s), 0755))
		default:
			name, content, _ := strings.Cut(s, "=")
			p := filepath.Join(root, name)
			must(t, os.MkdirAll(filepath.Dir(p), 0755))
			must(t, os.WriteFile(p, []byte(content), 0644))
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// describe answers what is at p: "file:content", "dir", "link:target" or "none".
func describe(p string) string {
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		return "none"
	case fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return "link:" + target
	case fi.IsDir():
		return "dir"
	}
	b, _ := os.ReadFile(p)
	return "file:" + string(b)
}

func TestCopy(t *testing.T) {
	ctxFiles := []string{
		"f=F", "g.txt=G", "h.txt=H", "dir/a=A", "dir/sub/b=B", "dir/sub/ln->../a",
		"link->f", "far->/f", "esc->../../../etc/passwd",
	}
	tests := []struct {
		name    string
		image   []string // the target rootfs before
		opts    Options
		want    map[string]string // rootfs path -> describe()
		wantErr string
	}{
		{name: "file into dir with slash", opts: Options{Sources: []string{"f"}, Dest: "/app/"},
			want: map[string]string{"/app": "dir", "/app/f": "file:F"}},
		{name: "file as new name", opts: Options{Sources: []string{"f"}, Dest: "/app/new"},
			want: map[string]string{"/app/new": "file:F"}},
		{name: "file into existing dir without slash", image: []string{"etc/"},
			opts: Options{Sources: []string{"f"}, Dest: "/etc"}, want: map[string]string{"/etc/f": "file:F"}},
		{name: "file overwrites", image: []string{"app/f=old"},
			opts: Options{Sources: []string{"f"}, Dest: "/app/"}, want: map[string]string{"/app/f": "file:F"}},
		{name: "relative dest uses WORKDIR", opts: Options{Sources: []string{"f"}, Dest: "x", WorkDir: "/w"},
			want: map[string]string{"/w/x": "file:F"}},
		{name: "dot dest is WORKDIR", image: []string{"w/"}, opts: Options{Sources: []string{"f", "g.txt"}, Dest: ".", WorkDir: "/w"},
			want: map[string]string{"/w/f": "file:F", "/w/g.txt": "file:G"}},
		{name: "leading slash and dot-slash in source", opts: Options{Sources: []string{"/f", "./g.txt"}, Dest: "/o/"},
			want: map[string]string{"/o/f": "file:F", "/o/g.txt": "file:G"}},
		{name: "dir copies its contents", opts: Options{Sources: []string{"dir"}, Dest: "/d"},
			want: map[string]string{"/d/a": "file:A", "/d/sub/b": "file:B", "/d/sub/ln": "link:../a", "/d/dir": "none"}},
		{name: "dir into root", opts: Options{Sources: []string{"dir"}, Dest: "/"},
			want: map[string]string{"/a": "file:A", "/sub/b": "file:B"}},
		{name: "dir merges and replaces", image: []string{"d/sub/b/", "d/sub/keep=K", "d/a->/etc"},
			opts: Options{Sources: []string{"dir"}, Dest: "/d"},
			want: map[string]string{"/d/a": "file:A", "/d/sub/b": "file:B", "/d/sub/keep": "file:K"}},
		{name: "whole context", opts: Options{Sources: []string{"."}, Dest: "/c/"},
			want: map[string]string{"/c/f": "file:F", "/c/dir/sub/b": "file:B", "/c/link": "link:f"}},
		{name: "symlink source is followed, keeps its name", opts: Options{Sources: []string{"link"}, Dest: "/o/"},
			want: map[string]string{"/o/link": "file:F"}},
		{name: "absolute symlink source resolved in context", opts: Options{Sources: []string{"far"}, Dest: "/o/"},
			want: map[string]string{"/o/far": "file:F"}},
		{name: "escaping symlink source stays in context", opts: Options{Sources: []string{"esc"}, Dest: "/o/"},
			wantErr: "file not found in build context or excluded by .dockerignore: stat esc: file does not exist"},
		{name: "wildcard", opts: Options{Sources: []string{"*.txt"}, Dest: "/t/"},
			want: map[string]string{"/t/g.txt": "file:G", "/t/h.txt": "file:H"}},
		{name: "wildcard in subdir", opts: Options{Sources: []string{"dir/s?b"}, Dest: "/t/"},
			want: map[string]string{"/t/b": "file:B", "/t/sub": "none"}},
		{name: "wildcard one match to file name", opts: Options{Sources: []string{"g*"}, Dest: "/t"},
			want: map[string]string{"/t": "file:G"}},
		{name: "wildcard several to file name", opts: Options{Sources: []string{"*.txt"}, Dest: "/t"},
			wantErr: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "several to file name", opts: Options{Sources: []string{"f", "g.txt"}, Dest: "/t"},
			wantErr: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "wildcard matching nothing", opts: Options{Sources: []string{"*.none"}, Dest: "/t/"},
			wantErr: "COPY failed: no source files were specified"},
		{name: "missing", opts: Options{Sources: []string{"nope"}, Dest: "/t/"},
			wantErr: "COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist"},
		{name: "missing, named as written", opts: Options{Sources: []string{"./nope/"}, Dest: "/t/"},
			wantErr: "stat nope/: file does not exist"},
		{name: "file with a slash", opts: Options{Sources: []string{"f/"}, Dest: "/t/"},
			wantErr: "stat f/: file does not exist"},
		{name: "outside context", opts: Options{Sources: []string{"../x"}, Dest: "/t/"},
			wantErr: "COPY failed: forbidden path outside the build context: ../x ()"},
		{name: "URL with COPY", opts: Options{Sources: []string{"http://example.com/x"}, Dest: "/t/"},
			wantErr: "source can't be a URL for COPY"},
		{name: "dest through absolute symlink", image: []string{"etc/", "app->/etc"},
			opts: Options{Sources: []string{"f"}, Dest: "/app/"}, want: map[string]string{"/etc/f": "file:F", "/app": "link:/etc"}},
		{name: "dest through climbing symlink", image: []string{"app->../../../../.."},
			opts: Options{Sources: []string{"dir"}, Dest: "/app/x"}, want: map[string]string{"/x/a": "file:A"}},
		{name: "dest parent is a file", image: []string{"app=x"},
			opts: Options{Sources: []string{"f"}, Dest: "/app/y/"}, wantErr: "not a directory"},
		{name: "file over a symlink is not followed", image: []string{"o/f->/etc/shadow"},
			opts: Options{Sources: []string{"f"}, Dest: "/o/"}, want: map[string]string{"/o/f": "file:F"}},
		{name: "bad chmod", opts: Options{Sources: []string{"f"}, Dest: "/o/", Chmod: "9z"}, wantErr: "invalid chmod parameter"},
		{name: "unknown user", opts: Options{Sources: []string{"f"}, Dest: "/o/", Chown: "nobody"},
			wantErr: "can't find uid for user nobody: open /etc/passwd: no such file or directory"},
	}
	ctxDir := t.TempDir()
	mk(t, ctxDir, ctxFiles...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The rootfs sits two levels down so that a climbing symlink
			// would reach the test's own files if it escaped.
			top := t.TempDir()
			rootfs := filepath.Join(top, "a", "rootfs")
			must(t, os.MkdirAll(rootfs, 0755))
			mk(t, rootfs, tc.image...)
			err := Copy(context.Background(), Source{Root: ctxDir, Context: true}, rootfs, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range tc.want {
				if got := describe(filepath.Join(rootfs, p)); got != want {
					t.Errorf("%s: got %s, want %s", p, got, want)
				}
			}
			// Nothing may land next to rootfs.
			ents, _ := os.ReadDir(filepath.Join(top, "a"))
			if len(ents) != 1 {
				t.Errorf("files written outside rootfs: %v", ents)
			}
		})
	}
}

func TestCopyAttributes(t *testing.T) {
	ctxDir := t.TempDir()
	mk(t, ctxDir, "d/x=1", "d/s/y=2", "f=F")
	must(t, os.Chmod(filepath.Join(ctxDir, "d/x"), 0751|os.ModeSetuid))
	must(t, os.Chmod(filepath.Join(ctxDir, "d/s"), 0710))
	must(t, os.Link(filepath.Join(ctxDir, "d/x"), filepath.Join(ctxDir, "d/s/hard")))
	old := time.Unix(1500000000, 123456789)
	for _, p := range []string{"d/x", "d/s/y", "d/s", "f"} {
		must(t, os.Chtimes(filepath.Join(ctxDir, p), old, old))
	}
	src := Source{Root: ctxDir, Context: true}

	tests := []struct {
		name  string
		opts  Options
		path  string
		mode  os.FileMode
		mtime time.Time // zero: not checked
	}{
		{"file mode and seconds of mtime kept", Options{Sources: []string{"d"}, Dest: "/o"}, "/o/x", 0751 | os.ModeSetuid, time.Unix(1500000000, 0)},
		{"dir mode and mtime kept", Options{Sources: []string{"d"}, Dest: "/o"}, "/o/s", 0710 | os.ModeDir, time.Unix(1500000000, 0)},
		{"created top dir 0755", Options{Sources: []string{"d"}, Dest: "/o/p"}, "/o/p", 0755 | os.ModeDir, time.Time{}},
		{"created parent 0755", Options{Sources: []string{"f"}, Dest: "/o/p/q"}, "/o/p", 0755 | os.ModeDir, time.Time{}},
		{"chmod on files", Options{Sources: []string{"d"}, Dest: "/o", Chmod: "0750"}, "/o/s/y", 0750, time.Time{}},
		{"chmod on dirs", Options{Sources: []string{"d"}, Dest: "/o", Chmod: "750"}, "/o/s", 0750 | os.ModeDir, time.Time{}},
		{"chmod on created top dir", Options{Sources: []string{"d"}, Dest: "/o/n", Chmod: "700"}, "/o/n", 0700 | os.ModeDir, time.Time{}},
		{"chmod not on created parents", Options{Sources: []string{"f"}, Dest: "/o/p/q", Chmod: "700"}, "/o/p", 0755 | os.ModeDir, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rootfs := t.TempDir()
			must(t, Copy(context.Background(), src, rootfs, tc.opts))
			fi, err := os.Lstat(filepath.Join(rootfs, tc.path))
			must(t, err)
			if fi.Mode() != tc.mode {
				t.Errorf("mode %v, want %v", fi.Mode(), tc.mode)
			}
			if !tc.mtime.IsZero() && !fi.ModTime().Equal(tc.mtime) {
				t.Errorf("mtime %v, want %v", fi.ModTime(), tc.mtime)
			}
		})
	}

	t.Run("hardlinks kept", func(t *testing.T) {
		rootfs := t.TempDir()
		must(t, Copy(context.Background(), src, rootfs, Options{Sources: []string{"d"}, Dest: "/o"}))
		a, err := os.Stat(filepath.Join(rootfs, "o/x"))
		must(t, err)
		b, err := os.Stat(filepath.Join(rootfs, "o/s/hard"))
		must(t, err)
		if !os.SameFile(a, b) {
			t.Error("o/x and o/s/hard are not one file")
		}
	})
}

func TestChecksum(t *testing.T) {
	base := []string{"a=A", "b=B", "d/x=X", "d/l->x", "d/e/"}
	tests := []struct {
		name    string
		sources []string
		change  func(root string) error
		same    bool
	}{
		{"content", []string{"a"}, func(r string) error { return os.WriteFile(filepath.Join(r, "a"), []byte("Z"), 0644) }, false},
		{"size", []string{"d"}, func(r string) error { return os.WriteFile(filepath.Join(r, "d/x"), []byte("XX"), 0644) }, false},
		{"mode", []string{"a"}, func(r string) error { return os.Chmod(filepath.Join(r, "a"), 0600) }, false},
		{"mode in dir", []string{"d"}, func(r string) error { return os.Chmod(filepath.Join(r, "d/e"), 0700) }, false},
		{"new file in dir", []string{"d"}, func(r string) error { return os.WriteFile(filepath.Join(r, "d/n"), nil, 0644) }, false},
		{"rename in dir", []string{"d"}, func(r string) error { return os.Rename(filepath.Join(r, "d/x"), filepath.Join(r, "d/y")) }, false},
		{"link target", []string{"d"}, func(r string) error {
			os.Remove(filepath.Join(r, "d/l"))
			return os.Symlink("y", filepath.Join(r, "d/l"))
		}, false},
		{"file to dir", []string{"a"}, func(r string) error {
			os.Remove(filepath.Join(r, "a"))
			return os.Mkdir(filepath.Join(r, "a"), 0755)
		}, false},
		{"mtime", []string{"a", "d"}, func(r string) error {
			now := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(r, "d/x"), now, now)
			return os.Chtimes(filepath.Join(r, "a"), now, now)
		}, true},
		{"other file", []string{"a"}, func(r string) error { return os.WriteFile(filepath.Join(r, "b"), []byte("Z"), 0644) }, true},
		{"wildcard match added", []string{"?"}, func(r string) error { return os.WriteFile(filepath.Join(r, "c"), nil, 0644) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mk(t, root, base...)
			src := Source{Root: root, Context: true}
			opts := Options{Sources: tc.sources, Dest: "/x/"}
			before, err := Checksum(context.Background(), src, opts)
			must(t, err)
			must(t, tc.change(root))
			after, err := Checksum(context.Background(), src, opts)
			must(t, err)
			if (before == after) != tc.same {
				t.Errorf("before %s after %s, want same=%v", before, after, tc.same)
			}
		})
	}

	t.Run("shapes", func(t *testing.T) {
		root := t.TempDir()
		mk(t, root, base...)
		src := Source{Root: root, Context: true}
		for sources, prefix := range map[string]string{"a": "file:", "d": "dir:", "a b": "multi:", "*": "multi:", "d/?": "multi:", "d/x": "file:"} {
			s, err := Checksum(context.Background(), src, Options{Sources: strings.Fields(sources), Dest: "/x/"})
			must(t, err)
			if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+64 {
				t.Errorf("%s: %s, want %s<hex>", sources, s, prefix)
			}
		}
	})

	t.Run("ContentSum used", func(t *testing.T) {
		root := t.TempDir()
		mk(t, root, base...)
		var asked []string
		src := Source{Root: root, Context: true, ContentSum: func(rel string) (string, bool) {
			asked = append(asked, rel)
			return "sha256:fixed", true
		}}
		opts := Options{Sources: []string{"d", "a"}, Dest: "/x/"}
		before, err := Checksum(context.Background(), src, opts)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(root, "a"), []byte("Z"), 0644))
		after, err := Checksum(context.Background(), src, opts)
		must(t, err)
		if before != after || strings.Join(asked, " ") != "d/x a d/x a" {
			t.Errorf("asked %q; %s vs %s", asked, before, after)
		}
	})

	t.Run("missing from image", func(t *testing.T) {
		_, err := Checksum(context.Background(), Source{Root: t.TempDir()}, Options{Sources: []string{"/usr/x"}, Dest: "/"})
		if err == nil || !strings.Contains(err.Error(), "COPY failed: file not found in the --from source: stat usr/x: file does not exist") {
			t.Errorf("err = %v", err)
		}
	})
}

// Sources in an image may climb with "..": they stay inside its root.
func TestFromImage(t *testing.T) {
	img := t.TempDir()
	mk(t, img, "bin/tool=T", "lib/l->/bin/tool")
	src := Source{Root: img}
	rootfs := t.TempDir()
	must(t, Copy(context.Background(), src, rootfs, Options{Sources: []string{"../../bin/tool", "/lib/l"}, Dest: "/usr/"}))
	for p, want := range map[string]string{"/usr/tool": "file:T", "/usr/l": "file:T"} {
		if got := describe(filepath.Join(rootfs, p)); got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
}

func TestCopySpecial(t *testing.T) {
	ctxDir := t.TempDir()
	mk(t, ctxDir, "d/f=F", "e/g=G", "e/h/")
	must(t, syscall.Mkfifo(filepath.Join(ctxDir, "d/pipe"), 0640))
	src := Source{Root: ctxDir, Context: true}

	t.Run("fifo copied as fifo", func(t *testing.T) {
		rootfs := t.TempDir()
		must(t, Copy(context.Background(), src, rootfs, Options{Sources: []string{"d"}, Dest: "/o/"}))
		fi, err := os.Lstat(filepath.Join(rootfs, "o/pipe"))
		must(t, err)
		if fi.Mode() != os.ModeNamedPipe|0640 {
			t.Errorf("o/pipe: %v", fi.Mode())
		}
	})
	t.Run("wildcard matching dirs copies their contents", func(t *testing.T) {
		rootfs := t.TempDir()
		must(t, Copy(context.Background(), src, rootfs, Options{Sources: []string{"[de]"}, Dest: "/o/"}))
		for p, want := range map[string]string{"/o/f": "file:F", "/o/g": "file:G", "/o/h": "dir", "/o/d": "none"} {
			if got := describe(filepath.Join(rootfs, p)); got != want {
				t.Errorf("%s: %s, want %s", p, got, want)
			}
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := Copy(ctx, src, t.TempDir(), Options{Sources: []string{"d"}, Dest: "/o/"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}
