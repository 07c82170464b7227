package specs

import (
	"os"
	"slices"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Default returns the config `xrt spec` writes, the same as `runc spec`
// apart from the hostname. Each call returns a new value the caller may
// change.
func Default() *rspec.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &rspec.Spec{
		Version: rspec.Version,
		Root:    &rspec.Root{Path: "rootfs", Readonly: true},
		Process: &rspec.Process{
			Terminal: true,
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &rspec.LinuxCapabilities{
				Bounding:  caps,
				Effective: slices.Clone(caps),
				Permitted: slices.Clone(caps),
			},
			Rlimits:         []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "xrt",
		Mounts: []rspec.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
				Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &rspec.Linux{
			Resources: &rspec.LinuxResources{
				Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []rspec.LinuxNamespace{
				{Type: rspec.PIDNamespace},
				{Type: rspec.NetworkNamespace},
				{Type: rspec.IPCNamespace},
				{Type: rspec.UTSNamespace},
				{Type: rspec.MountNamespace},
				{Type: rspec.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi",
				"/proc/asound",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/sys/firmware",
				"/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
		},
	}
}

// ToRootless changes s as `runc spec --rootless` does, for a container run
// by an unprivileged user: a user namespace mapping the caller's effective
// ids to root; no network or cgroup namespace and no cgroup mount, which
// need privileges on the host; /sys bound from the host, since sysfs cannot
// be mounted without a network namespace of one's own; no "gid=" for
// devpts, since the group is not mapped; and no resource limits.
func ToRootless(s *rspec.Spec) {
	if s.Linux == nil {
		s.Linux = &rspec.Linux{}
	}
	l := s.Linux
	l.Namespaces = slices.DeleteFunc(l.Namespaces, func(ns rspec.LinuxNamespace) bool {
		switch ns.Type {
		case rspec.NetworkNamespace, rspec.UserNamespace, rspec.CgroupNamespace:
			return true
		}
		return false
	})
	l.Namespaces = append(l.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
	l.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	l.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	l.Resources = nil

	mounts := s.Mounts[:0]
	for _, m := range s.Mounts {
		switch {
		case m.Type == "cgroup" || m.Destination == "/sys/fs/cgroup":
			continue
		case m.Destination == "/sys":
			m = rspec.Mount{Destination: "/sys", Type: "none", Source: "/sys",
				Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		default:
			m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool {
				return strings.HasPrefix(o, "gid=")
			})
		}
		mounts = append(mounts, m)
	}
	clear(s.Mounts[len(mounts):])
	s.Mounts = mounts
}
