package specs

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
)

// bundle makes a bundle directory with an empty rootfs.
func bundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func addNS(s *rspec.Spec, t rspec.LinuxNamespaceType, path string) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: t, Path: path})
}

func dropNS(s *rspec.Spec, t rspec.LinuxNamespaceType) {
	ns := s.Linux.Namespaces[:0]
	for _, n := range s.Linux.Namespaces {
		if n.Type != t {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
}

func withUserNS(s *rspec.Spec) {
	addNS(s, rspec.UserNamespace, "")
	s.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func intp(i int) *int { return &i }

func TestValidate(t *testing.T) {
	dir := bundle(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(s *rspec.Spec)
		want   string // substring of the error; "" means valid
	}{
		{"default", func(*rspec.Spec) {}, ""},
		{"no linux section", func(s *rspec.Spec) { s.Linux = nil; s.Hostname = "" }, ""},
		{"absolute root", func(s *rspec.Spec) { s.Root.Path = filepath.Join(dir, "rootfs") }, ""},

		{"empty version", func(s *rspec.Spec) { s.Version = "" }, "ociVersion: must not be empty"},
		{"version 2", func(s *rspec.Spec) { s.Version = "2.0.0" }, `ociVersion: "2.0.0" is not supported`},
		{"old version", func(s *rspec.Spec) { s.Version = "1.0.2-dev" }, ""},

		{"no root", func(s *rspec.Spec) { s.Root = nil }, "root: required"},
		{"empty root", func(s *rspec.Spec) { s.Root.Path = "" }, "root.path: must not be empty"},
		{"missing root", func(s *rspec.Spec) { s.Root.Path = "nope" }, "root.path: " + filepath.Join(dir, "nope") + ": no such directory"},
		{"root is a file", func(s *rspec.Spec) { s.Root.Path = file }, "root.path: " + file + ": not a directory"},

		{"no process", func(s *rspec.Spec) { s.Process = nil }, "process: required"},
		{"no args", func(s *rspec.Spec) { s.Process.Args = nil }, "process.args: must not be empty"},
		{"empty arg0", func(s *rspec.Spec) { s.Process.Args = []string{""} }, "process.args[0]: must not be empty"},
		{"relative cwd", func(s *rspec.Spec) { s.Process.Cwd = "tmp" }, "process.cwd: must be an absolute path"},
		{"empty cwd", func(s *rspec.Spec) { s.Process.Cwd = "" }, "process.cwd: must be an absolute path"},
		{"env without =", func(s *rspec.Spec) { s.Process.Env = append(s.Process.Env, "FOO") }, "process.env[2]: "},
		{"env without name", func(s *rspec.Spec) { s.Process.Env = []string{"=x"} }, "process.env[0]: "},
		{"env with NUL", func(s *rspec.Spec) { s.Process.Env = []string{"A=\x00"} }, "process.env[0]: contains a NUL byte"},
		{"uid -1", func(s *rspec.Spec) { s.Process.User.UID = math.MaxUint32 }, "process.user.uid: "},
		{"gid -1", func(s *rspec.Spec) { s.Process.User.GID = math.MaxUint32 }, "process.user.gid: "},
		{"additional gid -1", func(s *rspec.Spec) { s.Process.User.AdditionalGids = []uint32{1, math.MaxUint32} }, "process.user.additionalGids[1]: "},
		{"umask", func(s *rspec.Spec) { m := uint32(0o1777); s.Process.User.Umask = &m }, "process.user.umask: "},
		{"unknown bounding cap", func(s *rspec.Spec) { s.Process.Capabilities.Bounding[1] = "CAP_FOO" }, `process.capabilities.bounding[1]: unknown capability "CAP_FOO"`},
		{"unknown ambient cap", func(s *rspec.Spec) { s.Process.Capabilities.Ambient = []string{"chown"} }, `process.capabilities.ambient[0]: unknown capability "chown"`},
		{"all caps", func(s *rspec.Spec) { s.Process.Capabilities.Bounding = CapabilityNames() }, ""},
		{"unknown rlimit", func(s *rspec.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }, `process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"`},
		{"duplicate rlimit", func(s *rspec.Spec) { s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0]) }, `process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE"`},
		{"soft above hard", func(s *rspec.Spec) { s.Process.Rlimits[0].Soft = 2048 }, "process.rlimits[0].soft: "},
		{"oom score", func(s *rspec.Spec) { s.Process.OOMScoreAdj = intp(1001) }, "process.oomScoreAdj: "},
		{"io class", func(s *rspec.Spec) { s.Process.IOPriority = &rspec.LinuxIOPriority{Class: "IOPRIO_CLASS_FOO"} }, `process.ioPriority.class: unknown class "IOPRIO_CLASS_FOO"`},
		{"io priority", func(s *rspec.Spec) {
			s.Process.IOPriority = &rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE, Priority: 8}
		}, "process.ioPriority.priority: "},
		{"io ok", func(s *rspec.Spec) { s.Process.IOPriority = &rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_IDLE} }, ""},
		{"sched no policy", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{} }, "process.scheduler.policy: required"},
		{"sched policy", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: "SCHED_FOO"} }, `process.scheduler.policy: unknown policy "SCHED_FOO"`},
		{"sched nice", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedOther, Nice: 20} }, "process.scheduler.nice: "},
		{"sched priority", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedOther, Priority: 1} }, "process.scheduler.priority: "},
		{"sched runtime", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedFIFO, Runtime: 1} }, "process.scheduler: "},
		{"sched flag", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedRR, Flags: []rspec.LinuxSchedulerFlag{"X"}}
		}, `process.scheduler.flags[0]: unknown flag "X"`},
		{"sched ok", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedFIFO, Priority: 10} }, ""},

		{"relative hook", func(s *rspec.Spec) {
			s.Hooks = &rspec.Hooks{Poststart: []rspec.Hook{{Path: "/bin/true"}, {Path: "true"}}}
		}, "hooks.poststart[1].path: must be an absolute path"},
		{"hook timeout", func(s *rspec.Spec) {
			s.Hooks = &rspec.Hooks{CreateRuntime: []rspec.Hook{{Path: "/bin/true", Timeout: intp(0)}}}
		}, "hooks.createRuntime[0].timeout: must be greater than zero"},

		{"relative mount", func(s *rspec.Spec) { s.Mounts[3].Destination = "dev/shm" }, "mounts[3].destination: must be an absolute path"},
		{"empty mount destination", func(s *rspec.Spec) { s.Mounts[0].Destination = "" }, "mounts[0].destination: must not be empty"},
		{"bind without source", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Options: []string{"rbind"}})
		}, "mounts[7].source: required for a bind mount"},
		{"idmap without bind", func(s *rspec.Spec) { s.Mounts[1].Options = append(s.Mounts[1].Options, "idmap") }, "mounts[1].options: an idmapped mount must be a bind mount"},
		{"mount uid without gid", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Source: "/tmp", Type: "bind",
				UIDMappings: []rspec.LinuxIDMapping{{Size: 1}}})
		}, "mounts[7].gidMappings: required with uidMappings"},
		{"mount mapping size", func(s *rspec.Spec) {
			m := []rspec.LinuxIDMapping{{Size: 0}}
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Source: "/tmp", Type: "bind", UIDMappings: m, GIDMappings: m})
		}, "mounts[7].uidMappings[0].size: must be greater than zero"},
		{"idmapped bind ok", func(s *rspec.Spec) {
			m := []rspec.LinuxIDMapping{{HostID: 1000, Size: 1}}
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Source: "/tmp", Options: []string{"rbind", "ridmap"}, UIDMappings: m, GIDMappings: m})
		}, ""},
		{"unknown options are data", func(s *rspec.Spec) { s.Mounts[1].Options = append(s.Mounts[1].Options, "foo") }, ""},

		{"unknown namespace", func(s *rspec.Spec) { s.Linux.Namespaces[2].Type = "foo" }, `linux.namespaces[2].type: unknown namespace type "foo"`},
		{"duplicate namespace", func(s *rspec.Spec) { addNS(s, rspec.PIDNamespace, "") }, `linux.namespaces[6].type: duplicate namespace type "pid"`},
		{"relative namespace path", func(s *rspec.Spec) { s.Linux.Namespaces[2].Path = "proc/1/ns/ipc" }, "linux.namespaces[2].path: must be an absolute path"},
		{"missing namespace path", func(s *rspec.Spec) { s.Linux.Namespaces[2].Path = "/nonexistent/ns" }, "linux.namespaces[2].path: /nonexistent/ns: "},
		{"not a namespace", func(s *rspec.Spec) { s.Linux.Namespaces[2].Path = file }, "linux.namespaces[2].path: " + file + " is not a namespace file"},
		{"wrong namespace type", func(s *rspec.Spec) { s.Linux.Namespaces[2].Path = "/proc/self/ns/net" }, "linux.namespaces[2].path: /proc/self/ns/net is a network namespace, not ipc"},
		{"joined namespace", func(s *rspec.Spec) { s.Linux.Namespaces[2].Path = "/proc/self/ns/ipc" }, ""},

		{"uid mappings without userns", func(s *rspec.Spec) {
			s.Linux.UIDMappings = []rspec.LinuxIDMapping{{Size: 1}}
		}, "linux.uidMappings: requires a user namespace"},
		{"gid mappings without userns", func(s *rspec.Spec) {
			s.Linux.GIDMappings = []rspec.LinuxIDMapping{{Size: 1}}
		}, "linux.gidMappings: requires a user namespace"},
		{"userns without uid mappings", func(s *rspec.Spec) { addNS(s, rspec.UserNamespace, "") }, "linux.uidMappings: required with a new user namespace"},
		{"userns without gid mappings", func(s *rspec.Spec) { withUserNS(s); s.Linux.GIDMappings = nil }, "linux.gidMappings: required with a new user namespace"},
		{"userns", withUserNS, ""},
		{"joined userns", func(s *rspec.Spec) { addNS(s, rspec.UserNamespace, "/proc/self/ns/user") }, ""},
		{"uid not mapped", func(s *rspec.Spec) { withUserNS(s); s.Process.User.UID = 70000 }, "process.user.uid: 70000 is not mapped in linux.uidMappings"},
		{"gid not mapped", func(s *rspec.Spec) { withUserNS(s); s.Process.User.AdditionalGids = []uint32{70000} }, "process.user.additionalGids[0]: 70000 is not mapped"},
		{"mapping overlap", func(s *rspec.Spec) {
			withUserNS(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, rspec.LinuxIDMapping{ContainerID: 65535, HostID: 1, Size: 1})
		}, "linux.uidMappings[1].containerID: range overlaps entry 0"},
		{"mapping overflow", func(s *rspec.Spec) {
			withUserNS(s)
			s.Linux.GIDMappings[0].HostID = math.MaxUint32
		}, "linux.gidMappings[0]: range overflows"},

		{"hostname without uts", func(s *rspec.Spec) { dropNS(s, rspec.UTSNamespace) }, "hostname: requires a UTS namespace"},
		{"domainname without uts", func(s *rspec.Spec) { dropNS(s, rspec.UTSNamespace); s.Hostname = ""; s.Domainname = "x" }, "domainname: requires a UTS namespace"},
		{"hostname in joined uts", func(s *rspec.Spec) { dropNS(s, rspec.UTSNamespace); addNS(s, rspec.UTSNamespace, "/proc/self/ns/uts") }, ""},

		{"net sysctl", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} }, ""},
		{"net sysctl with slashes", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"net/ipv4/conf/eth0.100/rp_filter": "1"} }, ""},
		{"net sysctl without netns", func(s *rspec.Spec) {
			dropNS(s, rspec.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl["net.ipv4.ip_forward"]: requires a network namespace`},
		{"net sysctl in host netns", func(s *rspec.Spec) {
			dropNS(s, rspec.NetworkNamespace)
			addNS(s, rspec.NetworkNamespace, "/proc/self/ns/net")
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl["net.ipv4.ip_forward"]: not allowed: network namespace /proc/self/ns/net is the host's`},
		{"ipc sysctl", func(s *rspec.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1", "fs.mqueue.msg_max": "1"}
		}, ""},
		{"ipc sysctl without ipcns", func(s *rspec.Spec) {
			dropNS(s, rspec.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "1"}
		}, `linux.sysctl["fs.mqueue.msg_max"]: requires an IPC namespace`},
		{"domainname sysctl", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"} }, ""},
		{"domainname sysctl without uts", func(s *rspec.Spec) {
			dropNS(s, rspec.UTSNamespace)
			s.Hostname = ""
			s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"}
		}, `linux.sysctl["kernel.domainname"]: requires a UTS namespace`},
		{"hostname sysctl", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"} }, `linux.sysctl["kernel.hostname"]: not allowed`},
		{"host sysctl", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, `linux.sysctl["vm.swappiness"]: not allowed`},

		{"propagation", func(s *rspec.Spec) { s.Linux.RootfsPropagation = "rfoo" }, `linux.rootfsPropagation: unknown propagation "rfoo"`},
		{"propagation ok", func(s *rspec.Spec) { s.Linux.RootfsPropagation = "rslave" }, ""},
		{"relative masked path", func(s *rspec.Spec) { s.Linux.MaskedPaths[1] = "proc/asound" }, "linux.maskedPaths[1]: must be an absolute path"},
		{"relative readonly path", func(s *rspec.Spec) { s.Linux.ReadonlyPaths[0] = "proc/bus" }, "linux.readonlyPaths[0]: must be an absolute path"},
		{"masked without mountns", func(s *rspec.Spec) { dropNS(s, rspec.MountNamespace) }, "linux.maskedPaths: requires a mount namespace"},
		{"device type", func(s *rspec.Spec) { s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/x", Type: "x"}} }, `linux.devices[0].type: unknown device type "x"`},
		{"device path", func(s *rspec.Spec) { s.Linux.Devices = []rspec.LinuxDevice{{Path: "dev/x", Type: "c"}} }, "linux.devices[0].path: must be an absolute path"},
		{"device ok", func(s *rspec.Spec) {
			s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
		}, ""},

		{"time offsets without timens", func(s *rspec.Spec) {
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets: requires a time namespace"},
		{"time offsets with joined timens", func(s *rspec.Spec) {
			addNS(s, rspec.TimeNamespace, "/proc/self/ns/time")
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets: cannot be set when joining time namespace /proc/self/ns/time"},
		{"time offset clock", func(s *rspec.Spec) {
			addNS(s, rspec.TimeNamespace, "")
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"realtime": {Secs: 1}}
		}, `linux.timeOffsets["realtime"]: unknown clock`},
		{"time offset nanosecs", func(s *rspec.Spec) {
			addNS(s, rspec.TimeNamespace, "")
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"boottime": {Nanosecs: 1e9}}
		}, `linux.timeOffsets["boottime"].nanosecs: `},
		{"time offsets", func(s *rspec.Spec) {
			addNS(s, rspec.TimeNamespace, "")
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"boottime": {Secs: -5}, "monotonic": {Secs: 3}}
		}, ""},

		{"seccomp default", func(s *rspec.Spec) { s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"} }, `linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"seccomp notify default", func(s *rspec.Spec) { s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActNotify} }, "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
		{"seccomp arch", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Architectures: []rspec.Arch{rspec.ArchX86_64, "SCMP_ARCH_VAX"}}
		}, `linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`},
		{"seccomp flag", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Flags: []rspec.LinuxSeccompFlag{"X"}}
		}, `linux.seccomp.flags[0]: unknown flag "X"`},
		{"seccomp names", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{{Action: rspec.ActErrno}}}
		}, "linux.seccomp.syscalls[0].names: must not be empty"},
		{"seccomp action", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"}, Action: "X"}}}
		}, `linux.seccomp.syscalls[0].action: unknown action "X"`},
		{"seccomp op", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"read"}, Action: rspec.ActErrno, Args: []rspec.LinuxSeccompArg{{Index: 0, Op: "X"}}}}}
		}, `linux.seccomp.syscalls[0].args[0].op: unknown operator "X"`},
		{"seccomp index", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"read"}, Action: rspec.ActErrno, Args: []rspec.LinuxSeccompArg{{Index: 6, Op: rspec.OpEqualTo}}}}}
		}, "linux.seccomp.syscalls[0].args[0].index: "},
		{"seccomp notify without listener", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{{Names: []string{"mkdir"}, Action: rspec.ActNotify}}}
		}, "linux.seccomp.listenerPath: required with SCMP_ACT_NOTIFY"},
		{"seccomp ok", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno, Architectures: []rspec.Arch{rspec.ArchX86_64},
				Flags:    []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog},
				Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{{Index: 5, Op: rspec.OpMaskedEqual}}}}}
		}, ""},

		{"personality", func(s *rspec.Spec) { s.Linux.Personality = &rspec.LinuxPersonality{Domain: "BSD"} }, `linux.personality.domain: unknown domain "BSD"`},
		{"closID", func(s *rspec.Spec) { s.Linux.IntelRdt = &rspec.LinuxIntelRdt{ClosID: "../x"} }, "linux.intelRdt.closID: "},
		{"memory policy", func(s *rspec.Spec) { s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: "MPOL_X"} }, `linux.memoryPolicy.mode: unknown mode "MPOL_X"`},
		{"net devices without netns", func(s *rspec.Spec) {
			dropNS(s, rspec.NetworkNamespace)
			s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"eth1": {}}
		}, "linux.netDevices: requires a network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			tt.change(s)
			err := Validate(s, dir)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("Validate: %q, want it to contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("Validate: error spans lines: %q", msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("Validate: %T is not a *FieldError", err)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil, t.TempDir()); err == nil {
		t.Fatal("Validate(nil): no error")
	}
}

func TestValidateSELinuxLabel(t *testing.T) {
	if selinux.GetEnabled() {
		t.Skip("SELinux is enabled here: a label is valid")
	}
	s := Default()
	s.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
	err := Validate(s, bundle(t))
	if err == nil || !strings.HasPrefix(err.Error(), "process.selinuxLabel: ") {
		t.Fatalf("Validate: %v, want a process.selinuxLabel error", err)
	}
}

func TestRootfsPath(t *testing.T) {
	tests := []struct {
		root, bundle, want string
	}{
		{"rootfs", "/b", "/b/rootfs"},
		{"/abs/r/", "/b", "/abs/r"},
		{"../r", "/b/c", "/b/r"},
	}
	for _, tt := range tests {
		s := &rspec.Spec{Root: &rspec.Root{Path: tt.root}}
		if got := RootfsPath(s, tt.bundle); got != tt.want {
			t.Errorf("RootfsPath(%q, %q) = %q, want %q", tt.root, tt.bundle, got, tt.want)
		}
	}
	if got := RootfsPath(&rspec.Spec{}, "/b"); got != "" {
		t.Errorf("RootfsPath without root = %q, want empty", got)
	}
	wd, _ := os.Getwd()
	if got := RootfsPath(&rspec.Spec{Root: &rspec.Root{Path: "r"}}, "b"); got != filepath.Join(wd, "b/r") {
		t.Errorf("RootfsPath with a relative bundle = %q, want it absolute", got)
	}
}

func TestValidateID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"abc", true},
		{"A-b_c.d+e9", true},
		{"...", true},
		{strings.Repeat("x", 1024), true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"a\x00", false},
		{strings.Repeat("x", 1025), false},
	}
	for _, tt := range tests {
		err := ValidateID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v, does not wrap ErrInvalidID", tt.id, err)
		}
	}
}
