package specs

import (
	"os"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDefault(t *testing.T) {
	s := Default()
	if s.Version != rspec.Version || s.Hostname != "xrt" || !s.Root.Readonly || s.Root.Path != "rootfs" {
		t.Errorf("version %q hostname %q root %+v", s.Version, s.Hostname, s.Root)
	}
	p := s.Process
	if !p.Terminal || !p.NoNewPrivileges || p.Cwd != "/" || !slices.Equal(p.Args, []string{"sh"}) {
		t.Errorf("process %+v", p)
	}
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	c := p.Capabilities
	if !slices.Equal(c.Bounding, caps) || !slices.Equal(c.Effective, caps) || !slices.Equal(c.Permitted, caps) || c.Ambient != nil || c.Inheritable != nil {
		t.Errorf("capabilities %+v", c)
	}
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	if want := []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}; !slices.Equal(dests, want) {
		t.Errorf("mounts %v, want %v", dests, want)
	}
	var ns []rspec.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	if want := []rspec.LinuxNamespaceType{"pid", "network", "ipc", "uts", "mount", "cgroup"}; !slices.Equal(ns, want) {
		t.Errorf("namespaces %v, want %v", ns, want)
	}
	// Each call is a fresh value.
	s.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	s.Mounts[0].Destination = "/x"
	if d := Default(); d.Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" || d.Mounts[0].Destination != "/proc" {
		t.Error("Default shares state between calls")
	}
}

func TestToRootless(t *testing.T) {
	s := Default()
	ToRootless(s)
	ToRootless(s) // twice changes nothing more
	l := s.Linux
	var ns []rspec.LinuxNamespaceType
	for _, n := range l.Namespaces {
		ns = append(ns, n.Type)
	}
	if want := []rspec.LinuxNamespaceType{"pid", "ipc", "uts", "mount", "user"}; !slices.Equal(ns, want) {
		t.Errorf("namespaces %v, want %v", ns, want)
	}
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if len(l.UIDMappings) != 1 || l.UIDMappings[0] != (rspec.LinuxIDMapping{ContainerID: 0, HostID: uid, Size: 1}) {
		t.Errorf("uidMappings %+v", l.UIDMappings)
	}
	if len(l.GIDMappings) != 1 || l.GIDMappings[0] != (rspec.LinuxIDMapping{ContainerID: 0, HostID: gid, Size: 1}) {
		t.Errorf("gidMappings %+v", l.GIDMappings)
	}
	if l.Resources != nil {
		t.Errorf("resources %+v", l.Resources)
	}
	if len(s.Mounts) != 6 {
		t.Fatalf("%d mounts, want 6 (no cgroup mount)", len(s.Mounts))
	}
	for _, m := range s.Mounts {
		if m.Type == "cgroup" {
			t.Error("cgroup mount kept")
		}
		for _, o := range m.Options {
			if strings.HasPrefix(o, "gid=") {
				t.Errorf("%s keeps %s", m.Destination, o)
			}
		}
		if m.Destination == "/sys" {
			want := rspec.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			if m.Type != want.Type || m.Source != want.Source || !slices.Equal(m.Options, want.Options) {
				t.Errorf("/sys mount %+v, want %+v", m, want)
			}
		}
	}
	if err := Validate(s, bundle(t)); err != nil {
		t.Errorf("rootless default does not validate: %v", err)
	}
	// The default config must not be changed through shared slices.
	if d := Default(); !slices.Contains(d.Mounts[2].Options, "gid=5") {
		t.Error("ToRootless changed Default's devpts options")
	}
}

func TestToRootlessNoLinux(t *testing.T) {
	s := &rspec.Spec{}
	ToRootless(s)
	if s.Linux == nil || len(s.Linux.Namespaces) != 1 || s.Linux.Namespaces[0].Type != rspec.UserNamespace {
		t.Errorf("linux %+v", s.Linux)
	}
}
