package bundle

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment, and a broken line
broken:x:notanumber:1::/:
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`

const testGroup = `root:x:0:
wheel:x:10:root
audio:x:29:app,other
video:x:44:app
app:x:1000:
staff:x:50:
nogroup:x:65534:
`

// testRootfs is a rootfs with only /etc/passwd and /etc/group.
func testRootfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"passwd": testPasswd, "group": testGroup} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func baseOptions(t *testing.T) Options {
	return Options{
		ID:     "0123456789abcdef0123",
		Rootfs: testRootfs(t),
		Image:  ocispec.ImageConfig{Cmd: []string{"sh"}},
	}
}

func mustGenerate(t *testing.T, o Options) *rspec.Spec {
	t.Helper()
	s, err := Generate(o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

func TestCommand(t *testing.T) {
	cases := []struct {
		name          string
		imgEP, imgCmd []string
		runEP, runCmd []string
		want          []string
		wantErr       string
	}{
		{name: "image cmd", imgCmd: []string{"sh"}, want: []string{"sh"}},
		{name: "image entrypoint and cmd", imgEP: []string{"/ep"}, imgCmd: []string{"-x"}, want: []string{"/ep", "-x"}},
		{name: "run cmd replaces image cmd", imgEP: []string{"/ep"}, imgCmd: []string{"-x"}, runCmd: []string{"-y"}, want: []string{"/ep", "-y"}},
		{name: "run entrypoint drops image cmd", imgEP: []string{"/ep"}, imgCmd: []string{"-x"}, runEP: []string{"/other"}, want: []string{"/other"}},
		{name: "run entrypoint and cmd", imgEP: []string{"/ep"}, imgCmd: []string{"-x"}, runEP: []string{"/o"}, runCmd: []string{"a"}, want: []string{"/o", "a"}},
		{name: "empty entrypoint clears it", imgEP: []string{"/ep"}, imgCmd: []string{"-x"}, runEP: []string{""}, runCmd: []string{"ls"}, want: []string{"ls"}},
		{name: "empty non-nil entrypoint", imgEP: []string{"/ep"}, runEP: []string{}, runCmd: []string{"ls", "-l"}, want: []string{"ls", "-l"}},
		{name: "nothing", wantErr: "no command specified"},
		{name: "entrypoint cleared, no cmd", imgEP: []string{"/ep"}, imgCmd: []string{"x"}, runEP: []string{""}, wantErr: "no command specified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := baseOptions(t)
			o.Image = ocispec.ImageConfig{Entrypoint: c.imgEP, Cmd: c.imgCmd}
			o.Entrypoint, o.Cmd = c.runEP, c.runCmd
			s, err := Generate(o)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Process.Args, c.want) {
				t.Errorf("args = %q, want %q", s.Process.Args, c.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	cases := []struct {
		name     string
		image    []string
		run      []string
		tty      bool
		hostname string
		want     []string
	}{
		{name: "defaults", want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "HOME=/root"}},
		{name: "tty", tty: true, want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "TERM=xterm", "HOME=/root"}},
		{name: "image PATH replaces the default in place", image: []string{"A=1", "PATH=/x"}, hostname: "web",
			want: []string{"PATH=/x", "HOSTNAME=web", "A=1", "HOME=/root"}},
		{name: "run overrides by key and unsets", image: []string{"A=1", "B=2", "HOME=/h"}, run: []string{"B=3", "A", "C=x=y"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "B=3", "HOME=/h", "C=x=y"}},
		{name: "run overrides TERM and HOSTNAME", tty: true, run: []string{"TERM=dumb", "HOSTNAME=h"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h", "TERM=dumb", "HOME=/root"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := baseOptions(t)
			o.Image.Env, o.Env, o.Tty, o.Hostname = c.image, c.run, c.tty, c.hostname
			s := mustGenerate(t, o)
			if !reflect.DeepEqual(s.Process.Env, c.want) {
				t.Errorf("env = %q\nwant  %q", s.Process.Env, c.want)
			}
			if s.Process.Terminal != c.tty {
				t.Errorf("terminal = %v", s.Process.Terminal)
			}
		})
	}
}

func TestWorkingDir(t *testing.T) {
	cases := []struct{ image, run, want, wantErr string }{
		{want: "/"},
		{image: "/app", want: "/app"},
		{image: "/app", run: "/srv/", want: "/srv"},
		{run: "srv", wantErr: "absolute"},
		{image: "rel", wantErr: "absolute"},
	}
	for _, c := range cases {
		o := baseOptions(t)
		o.Image.WorkingDir, o.WorkingDir = c.image, c.run
		s, err := Generate(o)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: err = %v, want %q", c, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.Process.Cwd != c.want {
			t.Errorf("%+v: cwd = %q", c, s.Process.Cwd)
		}
	}
}

func TestUser(t *testing.T) {
	cases := []struct {
		user     string
		groupAdd []string
		imgUser  string
		uid, gid uint32
		sgids    []uint32
		home     string
		wantErr  string
	}{
		// The primary group is always among the supplementary ones, as
		// Docker 20.10 sets them (seen with `id` in its containers).
		{user: "", uid: 0, gid: 0, sgids: []uint32{0, 10}, home: "/root"},
		{user: "app", uid: 1000, gid: 1000, sgids: []uint32{1000, 29, 44}, home: "/home/app"},
		{user: "1000", uid: 1000, gid: 1000, sgids: []uint32{1000, 29, 44}, home: "/home/app"},
		{user: "app:staff", uid: 1000, gid: 50, sgids: []uint32{50}, home: "/home/app"},
		{user: "app:77", uid: 1000, gid: 77, sgids: []uint32{77}, home: "/home/app"},
		{user: "4242", uid: 4242, gid: 0, sgids: []uint32{0}, home: "/"},
		{user: "4242:4343", uid: 4242, gid: 4343, sgids: []uint32{4343}, home: "/"},
		{user: "nobody", uid: 65534, gid: 65534, sgids: []uint32{65534}, home: "/nonexistent"},
		{user: "nobody", groupAdd: []string{"audio", "123"}, uid: 65534, gid: 65534, sgids: []uint32{65534, 29, 123}, home: "/nonexistent"},
		{imgUser: "daemon", uid: 1, gid: 1, sgids: []uint32{1}, home: "/usr/sbin"},
		{user: "ghost", wantErr: "unable to find user ghost"},
		{user: "app:ghosts", wantErr: "unable to find group ghosts"},
		{user: "app", groupAdd: []string{"nosuch"}, wantErr: "unable to find group nosuch"},
	}
	for _, c := range cases {
		o := baseOptions(t)
		o.User, o.GroupAdd, o.Image.User = c.user, c.groupAdd, c.imgUser
		s, err := Generate(o)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("user %q: err = %v, want %q", c.user, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("user %q: %v", c.user, err)
		}
		u := s.Process.User
		if u.UID != c.uid || u.GID != c.gid || !slices.Equal(u.AdditionalGids, c.sgids) {
			t.Errorf("user %q: got %d:%d %v, want %d:%d %v", c.user, u.UID, u.GID, u.AdditionalGids, c.uid, c.gid, c.sgids)
		}
		if home, _ := lookupEnv(s.Process.Env, "HOME"); home != c.home {
			t.Errorf("user %q: HOME=%q, want %q", c.user, home, c.home)
		}
	}
}

func TestUserWithoutPasswd(t *testing.T) {
	o := baseOptions(t)
	o.Rootfs = t.TempDir()
	o.User = "1000:1000"
	s := mustGenerate(t, o)
	if u := s.Process.User; u.UID != 1000 || u.GID != 1000 {
		t.Errorf("user = %+v", u)
	}
	o.User = "app"
	if _, err := Generate(o); err == nil || !strings.Contains(err.Error(), "unable to find user app") {
		t.Errorf("a name without /etc/passwd: err = %v", err)
	}
}

func TestUserPasswdSymlinkStaysInRootfs(t *testing.T) {
	o := baseOptions(t)
	// An image's /etc/passwd linking to an absolute path must be read
	// inside the rootfs, not on the host.
	etc := filepath.Join(o.Rootfs, "etc")
	os.Rename(filepath.Join(etc, "passwd"), filepath.Join(etc, "passwd.real"))
	if err := os.Symlink("/etc/passwd.real", filepath.Join(etc, "passwd")); err != nil {
		t.Fatal(err)
	}
	o.User = "app"
	s := mustGenerate(t, o)
	if s.Process.User.UID != 1000 {
		t.Errorf("uid = %d", s.Process.User.UID)
	}
}
