package copier

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func owners(fi os.FileInfo) (int, int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func TestParseChown(t *testing.T) {
	rootfs := t.TempDir()
	mk(t, rootfs, "etc/passwd=root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
		"etc/group=root:x:0:\napp:x:1002:\nstaff:x:50:\n")
	tests := []struct {
		spec    string
		want    owner
		wantErr string
	}{
		{"", owner{0, 0}, ""},
		{"1:2", owner{1, 2}, ""},
		{"7", owner{7, 7}, ""},
		{"app", owner{1000, 1002}, ""}, // the group of the same name, as Docker's classic builder
		{"app:staff", owner{1000, 50}, ""},
		{"app:9", owner{1000, 9}, ""},
		{"ghost", owner{}, "can't find uid for user ghost: no such user: ghost"},
		{"app:ghost", owner{}, "can't find gid for group ghost: no such group: ghost"},
		{"a:b:c", owner{}, "invalid chown string format: a:b:c"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := parseChown(rootfs, tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			must(t, err)
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("passwd symlink stays in rootfs", func(t *testing.T) {
		r := t.TempDir()
		mk(t, r, "etc/passwd->/etc/passwd", "etc/group=")
		if _, err := parseChown(r, "root"); err == nil {
			t.Error("the host's /etc/passwd was read")
		}
	})
}

func TestChownCopy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown")
	}
	ctxDir := t.TempDir()
	mk(t, ctxDir, "f=F", "d/x=X", "d/s/", "d/l->x")
	filepath.Walk(ctxDir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 4242, 4242) })
	src := Source{Root: ctxDir, Context: true}
	tests := []struct {
		name  string
		image []string
		opts  Options
		want  map[string]owner
	}{
		{"default root", []string{"o/"}, Options{Sources: []string{"f", "d"}, Dest: "/o/"},
			map[string]owner{"/o/f": {0, 0}, "/o/x": {0, 0}, "/o/s": {0, 0}, "/o/l": {0, 0}}},
		{"file: created parents get the owner", []string{"o/"}, Options{Sources: []string{"f"}, Dest: "/o/p/q/", Chown: "7:8"},
			map[string]owner{"/o": {0, 0}, "/o/p": {7, 8}, "/o/p/q": {7, 8}, "/o/p/q/f": {7, 8}}},
		{"dir: new top dir gets it, its parents root", nil, Options{Sources: []string{"d"}, Dest: "/p/q", Chown: "7:8"},
			map[string]owner{"/p": {0, 0}, "/p/q": {7, 8}, "/p/q/x": {7, 8}, "/p/q/s": {7, 8}, "/p/q/l": {7, 8}}},
		{"dir: existing top dir kept", []string{"q/"}, Options{Sources: []string{"d"}, Dest: "/q", Chown: "7:8"},
			map[string]owner{"/q": {0, 0}, "/q/x": {7, 8}}},
		{"names from the image", []string{"etc/passwd=app:x:1000:1000::/:/bin/sh\n", "etc/group=app:x:1001:\n"},
			Options{Sources: []string{"f"}, Dest: "/o/", Chown: "app"}, map[string]owner{"/o/f": {1000, 1001}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rootfs := t.TempDir()
			mk(t, rootfs, tc.image...)
			must(t, Copy(context.Background(), src, rootfs, tc.opts))
			for p, w := range tc.want {
				fi, err := os.Lstat(filepath.Join(rootfs, p))
				must(t, err)
				if uid, gid := owners(fi); uid != w.uid || gid != w.gid {
					t.Errorf("%s: %d:%d, want %d:%d", p, uid, gid, w.uid, w.gid)
				}
			}
		})
	}

	t.Run("COPY --from keeps owners", func(t *testing.T) {
		img := Source{Root: ctxDir}
		for _, tc := range []struct {
			chown string
			want  owner
		}{{"", owner{4242, 4242}}, {"7:8", owner{7, 8}}} {
			rootfs := t.TempDir()
			must(t, Copy(context.Background(), img, rootfs, Options{Sources: []string{"d", "f"}, Dest: "/n/p/", Chown: tc.chown, PreserveOwnership: true}))
			for _, p := range []string{"/n/p/x", "/n/p/s", "/n/p/l", "/n/p/f"} {
				fi, err := os.Lstat(filepath.Join(rootfs, p))
				must(t, err)
				if uid, gid := owners(fi); uid != tc.want.uid || gid != tc.want.gid {
					t.Errorf("chown %q: %s: %d:%d, want %v", tc.chown, p, uid, gid, tc.want)
				}
			}
		}
	})

	t.Run("context owner not in checksum", func(t *testing.T) {
		opts := Options{Sources: []string{"d"}, Dest: "/"}
		a, err := Checksum(context.Background(), src, opts)
		must(t, err)
		must(t, os.Lchown(filepath.Join(ctxDir, "d/x"), 1, 1))
		b, err := Checksum(context.Background(), src, opts)
		must(t, err)
		img, err := Checksum(context.Background(), Source{Root: ctxDir}, opts)
		must(t, err)
		must(t, os.Lchown(filepath.Join(ctxDir, "d/x"), 2, 2))
		img2, err := Checksum(context.Background(), Source{Root: ctxDir}, opts)
		must(t, err)
		if a != b || img == img2 {
			t.Errorf("context %s %s (want equal), image %s %s (want different)", a, b, img, img2)
		}
	})
}
