package copier

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func mkTar(t testing.TB, es ...tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, ModTime: time.Unix(1400000000, 0), Uid: 1234, Gid: 5678}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0644
		}
		h.Size = int64(len(e.body))
		must(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(e.body))
		must(t, err)
	}
	must(t, tw.Close())
	return b.Bytes()
}

// compress pipes data through a command (bzip2, xz) or gzip.
func compress(t *testing.T, how string, data []byte) []byte {
	t.Helper()
	switch how {
	case "plain":
		return data
	case "gzip":
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	}
	if _, err := exec.LookPath(how); err != nil {
		t.Skipf("%s not installed", how)
	}
	cmd := exec.Command(how, "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	must(t, err)
	return out
}

func TestAddArchive(t *testing.T) {
	archive := mkTar(t,
		tarEntry{name: "./", typ: tar.TypeDir, mode: 0700},
		tarEntry{name: "top", body: "T"},
		tarEntry{name: "sub/", typ: tar.TypeDir, mode: 0750},
		tarEntry{name: "sub/.wh.gone", body: "W"},
		tarEntry{name: "sub/f", body: "F"},
		tarEntry{name: "sub/hard", typ: tar.TypeLink, link: "sub/f"},
		tarEntry{name: "sym", typ: tar.TypeSymlink, link: "/etc"},
		tarEntry{name: "sym/through", body: "S"},
		tarEntry{name: "../../../up", body: "U"},
		tarEntry{name: "up2", typ: tar.TypeSymlink, link: "../../../.."},
		tarEntry{name: "up2/x", body: "X"},
	)
	want := map[string]string{
		"/d/top": "file:T", "/d/sub/.wh.gone": "file:W", "/d/sub/f": "file:F", "/d/sub/hard": "file:F",
		"/d/sym": "link:/etc", "/d/etc/through": "file:S", "/d/up": "file:U", "/d/x": "file:X",
		"/d/old": "file:O", "/d/top.orig": "none",
	}
	for _, how := range []string{"plain", "gzip", "bzip2", "xz"} {
		t.Run(how, func(t *testing.T) {
			ctxDir := t.TempDir()
			// A name that says nothing: the content decides.
			must(t, os.WriteFile(filepath.Join(ctxDir, "blob.bin"), compress(t, how, archive), 0644))
			top := t.TempDir()
			rootfs := filepath.Join(top, "a", "b", "rootfs")
			// d/etc is there: "sym" leads to it inside d, as Docker's
			// chrooted untar would.
			mk(t, rootfs, "d/old=O", "d/top=was", "d/etc/keep=K")
			must(t, Copy(context.Background(), Source{Root: ctxDir, Context: true}, rootfs,
				Options{Sources: []string{"blob.bin"}, Dest: "/d", Add: true}))
			for p, w := range want {
				if got := describe(filepath.Join(rootfs, p)); got != w {
					t.Errorf("%s: %s, want %s", p, got, w)
				}
			}
			if fi, err := os.Stat(filepath.Join(rootfs, "d/sub")); err != nil || fi.Mode().Perm() != 0750 ||
				!fi.ModTime().Equal(time.Unix(1400000000, 0)) {
				t.Errorf("d/sub: %v %v", fi, err)
			}
			if fi, _ := os.Stat(filepath.Join(rootfs, "d")); fi.Mode().Perm() != 0755 {
				t.Errorf("the archive's root changed /d to %v", fi.Mode())
			}
			if os.Geteuid() == 0 {
				fi, err := os.Stat(filepath.Join(rootfs, "d/sub/f"))
				must(t, err)
				if uid, gid := owners(fi); uid != 1234 || gid != 5678 {
					t.Errorf("owner %d:%d, want the archive's 1234:5678", uid, gid)
				}
			}
			for _, dir := range []string{top, filepath.Join(top, "a"), filepath.Join(top, "a", "b")} {
				if ents, _ := os.ReadDir(dir); len(ents) != 1 {
					t.Errorf("written outside rootfs, in %s: %v", dir, ents)
				}
			}
		})
	}
	// A symlink that leads nowhere inside the destination, then a file
	// through it: Docker's untar fails, and so does ours.
	t.Run("through a dangling symlink", func(t *testing.T) {
		ctxDir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(ctxDir, "evil.tar"), mkTar(t,
			tarEntry{name: "out", typ: tar.TypeSymlink, link: "../../../../missing"},
			tarEntry{name: "out/evil.txt", body: "E"}), 0644))
		rootfs := t.TempDir()
		err := Copy(context.Background(), Source{Root: ctxDir, Context: true}, rootfs,
			Options{Sources: []string{"evil.tar"}, Dest: "/d/", Add: true})
		if err == nil || !strings.Contains(err.Error(), "/out/evil.txt: no such file or directory") {
			t.Fatalf("err = %v, want Docker's no such file", err)
		}
	})

	t.Run("COPY does not unpack", func(t *testing.T) {
		ctxDir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(ctxDir, "a.tar"), archive, 0644))
		rootfs := t.TempDir()
		must(t, Copy(context.Background(), Source{Root: ctxDir, Context: true}, rootfs, Options{Sources: []string{"a.tar"}, Dest: "/d/"}))
		if fi, err := os.Stat(filepath.Join(rootfs, "d/a.tar")); err != nil || fi.Size() != int64(len(archive)) {
			t.Errorf("a.tar: %v", err)
		}
	})

	t.Run("not a tar is copied", func(t *testing.T) {
		ctxDir := t.TempDir()
		mk(t, ctxDir, "fake.tar.gz=hello", "empty.tar=")
		rootfs := t.TempDir()
		must(t, Copy(context.Background(), Source{Root: ctxDir, Context: true}, rootfs,
			Options{Sources: []string{"fake.tar.gz", "empty.tar"}, Dest: "/d/", Add: true}))
		for p, w := range map[string]string{"/d/fake.tar.gz": "file:hello", "/d/empty.tar": "file:"} {
			if got := describe(filepath.Join(rootfs, p)); got != w {
				t.Errorf("%s: %s, want %s", p, got, w)
			}
		}
	})
}

func TestAddURL(t *testing.T) {
	lastMod := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	body := "remote body"
	tarBody := string(mkTar(t, tarEntry{name: "in-tar", body: "x"}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/files/app.txt":
			w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
			w.Write([]byte(body))
		case "/a.tar":
			w.Write([]byte(tarBody))
		case "/dl/":
			w.Header().Set("Content-Disposition", `attachment; filename="named.bin"`)
			w.Write([]byte("N"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	tests := []struct {
		name    string
		opts    Options
		want    map[string]string
		mode    os.FileMode
		mtime   time.Time
		wantErr string
	}{
		{name: "into dir", opts: Options{Sources: []string{srv.URL + "/files/app.txt"}, Dest: "/opt/"},
			want: map[string]string{"/opt/app.txt": "file:" + body}, mode: 0600, mtime: lastMod},
		{name: "as name", opts: Options{Sources: []string{srv.URL + "/files/app.txt"}, Dest: "/opt/x"},
			want: map[string]string{"/opt/x": "file:" + body}, mode: 0600, mtime: lastMod},
		{name: "no Last-Modified dates 1970, tar not unpacked", opts: Options{Sources: []string{srv.URL + "/a.tar"}, Dest: "/t/"},
			want: map[string]string{"/t/a.tar": "file:" + tarBody, "/t/in-tar": "none"}, mode: 0600, mtime: time.Unix(0, 0)},
		{name: "Content-Disposition names it", opts: Options{Sources: []string{srv.URL + "/dl/"}, Dest: "/t/"},
			want: map[string]string{"/t/named.bin": "file:N"}, mode: 0600},
		{name: "chmod", opts: Options{Sources: []string{srv.URL + "/files/app.txt"}, Dest: "/opt/", Chmod: "755"},
			want: map[string]string{"/opt/app.txt": "file:" + body}, mode: 0755},
		{name: "404", opts: Options{Sources: []string{srv.URL + "/missing"}, Dest: "/opt/"},
			wantErr: "ADD failed: failed to GET " + srv.URL + "/missing with status 404 Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Add = true
			rootfs := t.TempDir()
			sum, err := Checksum(context.Background(), Source{}, tc.opts)
			if err == nil {
				err = Copy(context.Background(), Source{}, rootfs, tc.opts)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			must(t, err)
			// One download: Docker's bare hex ("ADD <hex> in /dst ").
			if len(tc.opts.Sources) == 1 && (len(sum) != 64 || strings.Contains(sum, ":")) {
				t.Errorf("checksum %s, want a bare hex digest", sum)
			}
			for p, w := range tc.want {
				if got := describe(filepath.Join(rootfs, p)); got != w {
					t.Errorf("%s: %s, want %s", p, got, w)
				}
				if !strings.HasPrefix(w, "file:") {
					continue
				}
				fi, err := os.Stat(filepath.Join(rootfs, p))
				must(t, err)
				if fi.Mode() != tc.mode {
					t.Errorf("%s: mode %v, want %v", p, fi.Mode(), tc.mode)
				}
				if !tc.mtime.IsZero() && !fi.ModTime().Equal(tc.mtime) {
					t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), tc.mtime)
				}
			}
		})
	}

	t.Run("checksum follows the body", func(t *testing.T) {
		opts := Options{Sources: []string{srv.URL + "/files/app.txt"}, Dest: "/", Add: true}
		a, err := Checksum(context.Background(), Source{}, opts)
		must(t, err)
		body = "changed"
		b, err := Checksum(context.Background(), Source{}, opts)
		must(t, err)
		if a == b {
			t.Error("checksum did not change with the body")
		}
	})
}
