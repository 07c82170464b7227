package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func dests(ms []rspec.Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Destination)
	}
	return out
}

func mountAt(t *testing.T, s *rspec.Spec, dest string) rspec.Mount {
	t.Helper()
	for _, m := range s.Mounts {
		if m.Destination == dest {
			return m
		}
	}
	t.Fatalf("no mount at %s in %q", dest, dests(s.Mounts))
	return rspec.Mount{}
}

func TestDefaultMounts(t *testing.T) {
	s := mustGenerate(t, baseOptions(t))
	want := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"}
	if got := dests(s.Mounts); !slices.Equal(got, want) {
		t.Fatalf("mounts = %q, want %q", got, want)
	}
	checks := map[string][]string{
		"/proc":          {"nosuid", "noexec", "nodev"},
		"/dev":           {"nosuid", "strictatime", "mode=755", "size=65536k"},
		"/dev/pts":       {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
		"/sys":           {"nosuid", "noexec", "nodev", "ro"},
		"/sys/fs/cgroup": {"ro", "nosuid", "noexec", "nodev"},
		"/dev/mqueue":    {"nosuid", "noexec", "nodev"},
		"/dev/shm":       {"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"},
	}
	for dest, opts := range checks {
		if m := mountAt(t, s, dest); !slices.Equal(m.Options, opts) {
			t.Errorf("%s options = %q, want %q", dest, m.Options, opts)
		}
	}
	o := baseOptions(t)
	o.ShmSize = 1 << 20
	if m := mountAt(t, mustGenerate(t, o), "/dev/shm"); !slices.Contains(m.Options, "size=1048576") {
		t.Errorf("shm size: %q", m.Options)
	}
}

func TestUserMounts(t *testing.T) {
	src := t.TempDir()
	file := filepath.Join(src, "hosts")
	os.WriteFile(file, []byte("x"), 0o644)
	o := baseOptions(t)
	o.HostsPath, o.HostnamePath, o.ResolvConfPath = file, file, file
	o.Mounts = []Mount{
		{Type: "bind", Source: src, Destination: "/data/deep/er", ReadOnly: true},
		{Type: "volume", Source: src, Destination: "/data"},
		{Type: "tmpfs", Destination: "/dev/shm", Options: []string{"size=1m"}},
		{Type: "bind", Source: src, Destination: "/etc", Options: []string{"bind", "rslave"}},
		{Type: "tmpfs", Destination: "/run/", Options: []string{"exec", "mode=700"}},
	}
	s := mustGenerate(t, o)
	want := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue",
		"/data", "/etc", "/run", // depth 1, in the order given
		"/dev/shm", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts", // depth 2: the user's /dev/shm replaces the default
		"/data/deep/er"}
	if got := dests(s.Mounts); !slices.Equal(got, want) {
		t.Fatalf("mounts =\n%q\nwant\n%q", got, want)
	}
	for dest, opts := range map[string][]string{
		"/data/deep/er":    {"rbind", "ro", "rprivate"},
		"/data":            {"rbind", "rprivate"},
		"/etc":             {"bind", "rslave"},
		"/etc/hosts":       {"rbind", "rprivate"},
		"/dev/shm":         {"noexec", "nosuid", "nodev", "rprivate", "size=1m"},
		"/run":             {"nosuid", "nodev", "rprivate", "exec", "mode=700"},
		"/etc/resolv.conf": {"rbind", "rprivate"},
	} {
		m := mountAt(t, s, dest)
		if !slices.Equal(m.Options, opts) {
			t.Errorf("%s options = %q, want %q", dest, m.Options, opts)
		}
	}
	if m := mountAt(t, s, "/data"); m.Type != "bind" || m.Source != src {
		t.Errorf("volume = %+v, want a bind of %s", m, src)
	}
	if m := mountAt(t, s, "/run"); m.Type != "tmpfs" || m.Source != "tmpfs" {
		t.Errorf("tmpfs = %+v", m)
	}
	if s.Linux.RootfsPropagation != "rslave" {
		t.Errorf("rootfsPropagation = %q, want rslave for a slave bind", s.Linux.RootfsPropagation)
	}

	// A user mount at /etc/hosts replaces the network file; one at /dev
	// drops the defaults under /dev.
	o.Mounts = []Mount{
		{Type: "bind", Source: file, Destination: "/etc/hosts", ReadOnly: true},
		{Type: "tmpfs", Destination: "/dev"},
		{Type: "bind", Source: src, Destination: "/shared", Options: []string{"rshared"}},
	}
	s = mustGenerate(t, o)
	if got, want := dests(s.Mounts), []string{"/proc", "/sys", "/sys/fs/cgroup", "/dev", "/shared",
		"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}; !slices.Equal(got, want) {
		t.Errorf("mounts = %q, want %q", got, want)
	}
	if m := mountAt(t, s, "/etc/hosts"); !slices.Contains(m.Options, "ro") {
		t.Errorf("the user's /etc/hosts: %q", m.Options)
	}
	if s.Linux.RootfsPropagation != "shared" {
		t.Errorf("rootfsPropagation = %q, want shared", s.Linux.RootfsPropagation)
	}
}

func TestReadOnlyRootfsMounts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(file, nil, 0o644)
	o := baseOptions(t)
	o.ReadOnlyRootfs = true
	o.HostsPath = file
	o.Mounts = []Mount{{Type: "tmpfs", Destination: "/tmp"}}
	s := mustGenerate(t, o)
	for _, m := range s.Mounts {
		ro := slices.Contains(m.Options, "ro")
		switch m.Destination {
		case "/sys", "/sys/fs/cgroup", "/etc/hosts":
			if !ro {
				t.Errorf("%s is writable with a read-only rootfs: %q", m.Destination, m.Options)
			}
		default:
			if ro {
				t.Errorf("%s is read-only: %q", m.Destination, m.Options)
			}
		}
	}
}

func TestMountErrors(t *testing.T) {
	src := t.TempDir()
	cases := []struct {
		mounts  []Mount
		files   [3]string
		wantErr string
	}{
		{mounts: []Mount{{Type: "bind", Source: src, Destination: "data"}}, wantErr: `destination "data" must be an absolute path`},
		{mounts: []Mount{{Type: "bind", Source: src, Destination: "/"}}, wantErr: "can't be /"},
		{mounts: []Mount{{Type: "bind", Source: src + "/missing", Destination: "/d"}}, wantErr: "bind source path does not exist: " + src + "/missing"},
		{mounts: []Mount{{Type: "bind", Source: "rel", Destination: "/d"}}, wantErr: "must be an absolute path"},
		{mounts: []Mount{{Type: "bind", Source: src, Destination: "/d"}, {Type: "tmpfs", Destination: "/d/"}}, wantErr: "duplicate mount point /d"},
		{mounts: []Mount{{Type: "nfs", Destination: "/d"}}, wantErr: `type "nfs"`},
		{mounts: []Mount{{Type: "bind", Source: src, Destination: "/d", Options: []string{"weird"}}}, wantErr: `unknown bind option "weird"`},
		{mounts: []Mount{{Type: "tmpfs", Destination: "/d", Options: []string{"size"}}}, wantErr: `invalid tmpfs option "size"`},
		{mounts: []Mount{{Type: "tmpfs", Destination: "/d", Options: []string{"mode=999"}}}, wantErr: "octal"},
		{mounts: []Mount{{Type: "tmpfs", Destination: "/d", Options: []string{"foo=1"}}}, wantErr: `invalid tmpfs option "foo=1"`},
		{files: [3]string{src + "/nohosts"}, wantErr: "/etc/hosts: bind source path does not exist"},
	}
	for _, c := range cases {
		o := baseOptions(t)
		o.Mounts = c.mounts
		o.HostsPath = c.files[0]
		_, err := Generate(o)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%+v: err = %v, want %q", c.mounts, err, c.wantErr)
		}
	}
	// Nothing is created for a missing source.
	if _, err := os.Stat(src + "/missing"); err == nil {
		t.Error("a missing bind source was created")
	}
}

func TestMergeTmpfsOptions(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"noexec", "nosuid", "nodev", "rprivate"}, []string{"noexec", "nosuid", "nodev", "rprivate"}},
		{[]string{"noexec", "nosuid", "exec"}, []string{"nosuid", "exec"}},
		{[]string{"size=1m", "mode=1777", "size=2m"}, []string{"mode=1777", "size=2m"}},
		{[]string{"rprivate", "shared"}, []string{"shared"}},
		{[]string{"rw", "defaults", "ro"}, []string{"ro"}},
	}
	for _, c := range cases {
		got, err := mergeTmpfsOptions(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q -> %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
