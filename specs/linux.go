package specs

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func checkLinux(s *rspec.Spec, _ string) error {
	l := s.Linux
	if l == nil {
		l = &rspec.Linux{}
	}
	checks := [...]func(*rspec.Spec, *rspec.Linux) error{
		checkNamespaces,
		checkUserNamespace,
		checkUTS,
		checkSysctl,
		checkPaths,
		checkDevices,
		checkTimeOffsets,
		checkSeccomp,
		checkLinuxMisc,
	}
	for _, check := range checks {
		if err := check(s, l); err != nil {
			return err
		}
	}
	return nil
}

func checkNamespaces(_ *rspec.Spec, l *rspec.Linux) error {
	var seen uintptr
	for i, ns := range l.Namespaces {
		flag, ok := NamespaceFlag(ns.Type)
		if !ok {
			return fieldErr(fmt.Sprintf("linux.namespaces[%d].type", i), "unknown namespace type %q", ns.Type)
		}
		if seen&flag != 0 {
			return fieldErr(fmt.Sprintf("linux.namespaces[%d].type", i), "duplicate namespace type %q", ns.Type)
		}
		seen |= flag
		if ns.Path == "" {
			continue
		}
		if !filepath.IsAbs(ns.Path) {
			return fieldErr(fmt.Sprintf("linux.namespaces[%d].path", i), "must be an absolute path, got %q", ns.Path)
		}
		if err := checkNamespaceFile(ns.Path, ns.Type, flag); err != nil {
			return &FieldError{fmt.Sprintf("linux.namespaces[%d].path", i), err}
		}
	}
	return nil
}

// checkNamespaceFile makes sure that path is a namespace of the wanted
// type, so that a wrong path fails here and not halfway through setns.
func checkNamespaceFile(path string, t rspec.LinuxNamespaceType, want uintptr) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &causeError{fmt.Sprintf("%s: %v", path, err), err}
	}
	defer unix.Close(fd)
	got, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%s is not a namespace file", path)
		}
		return &causeError{fmt.Sprintf("%s: %v", path, err), err}
	}
	if uintptr(got) != want {
		name := "unknown"
		for _, nt := range namespaceTypes {
			if f, _ := NamespaceFlag(nt); f == uintptr(got) {
				name = string(nt)
			}
		}
		return fmt.Errorf("%s is a %s namespace, not %s", path, name, t)
	}
	return nil
}

func checkUserNamespace(s *rspec.Spec, l *rspec.Linux) error {
	userns, ok := Namespace(s, rspec.UserNamespace)
	if !ok {
		if len(l.UIDMappings) > 0 {
			return fieldErr("linux.uidMappings", "requires a user namespace in linux.namespaces")
		}
		if len(l.GIDMappings) > 0 {
			return fieldErr("linux.gidMappings", "requires a user namespace in linux.namespaces")
		}
		return nil
	}
	if userns.Path != "" {
		// A joined namespace brings its own mappings; any given here are
		// only checked for shape.
		if err := checkMappings("linux.uidMappings", l.UIDMappings); err != nil {
			return err
		}
		return checkMappings("linux.gidMappings", l.GIDMappings)
	}
	if len(l.UIDMappings) == 0 {
		return fieldErr("linux.uidMappings", "required with a new user namespace")
	}
	if len(l.GIDMappings) == 0 {
		return fieldErr("linux.gidMappings", "required with a new user namespace")
	}
	if err := checkMappings("linux.uidMappings", l.UIDMappings); err != nil {
		return err
	}
	if err := checkMappings("linux.gidMappings", l.GIDMappings); err != nil {
		return err
	}
	// The process ids are ids inside the container: unmapped ones make
	// setresuid fail with a bare EINVAL after everything is set up.
	if p := s.Process; p != nil {
		if !mapped(l.UIDMappings, p.User.UID) {
			return fieldErr("process.user.uid", "%d is not mapped in linux.uidMappings", p.User.UID)
		}
		if !mapped(l.GIDMappings, p.User.GID) {
			return fieldErr("process.user.gid", "%d is not mapped in linux.gidMappings", p.User.GID)
		}
		for i, g := range p.User.AdditionalGids {
			if !mapped(l.GIDMappings, g) {
				return fieldErr(fmt.Sprintf("process.user.additionalGids[%d]", i), "%d is not mapped in linux.gidMappings", g)
			}
		}
	}
	return nil
}

func checkUTS(s *rspec.Spec, _ *rspec.Linux) error {
	if _, ok := Namespace(s, rspec.UTSNamespace); ok {
		return nil
	}
	if s.Hostname != "" {
		return fieldErr("hostname", "requires a UTS namespace in linux.namespaces")
	}
	if s.Domainname != "" {
		return fieldErr("domainname", "requires a UTS namespace in linux.namespaces")
	}
	return nil
}

// ipcSysctls are the sysctls outside fs.mqueue.* that an IPC namespace owns.
var ipcSysctls = map[string]bool{
	"kernel.msgmax":          true,
	"kernel.msgmnb":          true,
	"kernel.msgmni":          true,
	"kernel.sem":             true,
	"kernel.shmall":          true,
	"kernel.shmmax":          true,
	"kernel.shmmni":          true,
	"kernel.shm_rmid_forced": true,
}

// sysctlName returns a sysctl key in dotted form. sysctl(8) also accepts
// "/" as the separator, and then a "." belongs to a component (an
// interface name such as "eno2.100").
func sysctlName(key string) string {
	i := strings.IndexAny(key, "./")
	if i < 0 || key[i] == '.' {
		return key
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
}

// checkSysctl allows only sysctls that belong to a namespace the container
// does not share with the host, as runc does: others would change the host.
func checkSysctl(s *rspec.Spec, l *rspec.Linux) error {
	if len(l.Sysctl) == 0 {
		return nil
	}
	for _, key := range slices.Sorted(maps.Keys(l.Sysctl)) {
		field := fmt.Sprintf("linux.sysctl[%q]", key)
		name := sysctlName(key)
		switch {
		case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
			if _, ok := Namespace(s, rspec.IPCNamespace); !ok {
				return fieldErr(field, "requires an IPC namespace in linux.namespaces")
			}
		case strings.HasPrefix(name, "net."):
			ns, ok := Namespace(s, rspec.NetworkNamespace)
			if !ok {
				return fieldErr(field, "requires a network namespace in linux.namespaces")
			}
			if ns.Path != "" {
				host, err := sameFile("/proc/self/ns/net", ns.Path)
				if err != nil {
					return &FieldError{field, err}
				}
				if host {
					return fieldErr(field, "not allowed: network namespace %s is the host's", ns.Path)
				}
			}
		case name == "kernel.domainname":
			if _, ok := Namespace(s, rspec.UTSNamespace); !ok {
				return fieldErr(field, "requires a UTS namespace in linux.namespaces")
			}
		case name == "kernel.hostname":
			return fieldErr(field, "not allowed: set the hostname field instead")
		default:
			return fieldErr(field, "not allowed: the sysctl is not namespaced and would change the host")
		}
	}
	return nil
}

func sameFile(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, &causeError{fmt.Sprintf("%s: %v", a, err), err}
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, &causeError{fmt.Sprintf("%s: %v", b, err), err}
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

func checkPaths(s *rspec.Spec, l *rspec.Linux) error {
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
	default:
		return fieldErr("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.maskedPaths[%d]", i), "must be an absolute path, got %q", p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.readonlyPaths[%d]", i), "must be an absolute path, got %q", p)
		}
	}
	if _, ok := Namespace(s, rspec.MountNamespace); !ok {
		if len(l.MaskedPaths) > 0 {
			return fieldErr("linux.maskedPaths", "requires a mount namespace in linux.namespaces")
		}
		if len(l.ReadonlyPaths) > 0 {
			return fieldErr("linux.readonlyPaths", "requires a mount namespace in linux.namespaces")
		}
	}
	return nil
}

func checkDevices(_ *rspec.Spec, l *rspec.Linux) error {
	for i, d := range l.Devices {
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			return fieldErr(fmt.Sprintf("linux.devices[%d].type", i), "unknown device type %q (must be c, b, u or p)", d.Type)
		}
		if !filepath.IsAbs(d.Path) {
			return fieldErr(fmt.Sprintf("linux.devices[%d].path", i), "must be an absolute path, got %q", d.Path)
		}
	}
	return nil
}

func checkTimeOffsets(s *rspec.Spec, l *rspec.Linux) error {
	if len(l.TimeOffsets) == 0 {
		return nil
	}
	ns, ok := Namespace(s, rspec.TimeNamespace)
	if !ok {
		return fieldErr("linux.timeOffsets", "requires a time namespace in linux.namespaces")
	}
	if ns.Path != "" {
		return fieldErr("linux.timeOffsets", "cannot be set when joining time namespace %s", ns.Path)
	}
	for _, clock := range slices.Sorted(maps.Keys(l.TimeOffsets)) {
		if clock != "monotonic" && clock != "boottime" {
			return fieldErr(fmt.Sprintf("linux.timeOffsets[%q]", clock), "unknown clock (must be monotonic or boottime)")
		}
		if ns := l.TimeOffsets[clock].Nanosecs; ns >= 1e9 {
			return fieldErr(fmt.Sprintf("linux.timeOffsets[%q].nanosecs", clock), "%d is not below 1000000000", ns)
		}
	}
	return nil
}

func checkSeccomp(_ *rspec.Spec, l *rspec.Linux) error {
	sc := l.Seccomp
	if sc == nil {
		return nil
	}
	if !slices.Contains(seccompActions, string(sc.DefaultAction)) {
		return fieldErr("linux.seccomp.defaultAction", "unknown action %q", sc.DefaultAction)
	}
	// With a notify default the runtime's own calls after loading the
	// filter, among them handing the listener its fd, would wait on a
	// listener that cannot answer yet.
	if sc.DefaultAction == rspec.ActNotify {
		return fieldErr("linux.seccomp.defaultAction", "%s cannot be the default action", rspec.ActNotify)
	}
	for i, a := range sc.Architectures {
		if !slices.Contains(seccompArchs, string(a)) {
			return fieldErr(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "unknown architecture %q", a)
		}
	}
	for i, f := range sc.Flags {
		if !slices.Contains(seccompFlags, string(f)) {
			return fieldErr(fmt.Sprintf("linux.seccomp.flags[%d]", i), "unknown flag %q", f)
		}
	}
	notify := false
	for i, sys := range sc.Syscalls {
		if len(sys.Names) == 0 {
			return fieldErr(fmt.Sprintf("linux.seccomp.syscalls[%d].names", i), "must not be empty")
		}
		if !slices.Contains(seccompActions, string(sys.Action)) {
			return fieldErr(fmt.Sprintf("linux.seccomp.syscalls[%d].action", i), "unknown action %q", sys.Action)
		}
		notify = notify || sys.Action == rspec.ActNotify
		for j, a := range sys.Args {
			if a.Index > 5 {
				return fieldErr(fmt.Sprintf("linux.seccomp.syscalls[%d].args[%d].index", i, j), "%d is above 5", a.Index)
			}
			if !slices.Contains(seccompOperators, string(a.Op)) {
				return fieldErr(fmt.Sprintf("linux.seccomp.syscalls[%d].args[%d].op", i, j), "unknown operator %q", a.Op)
			}
		}
	}
	if notify && sc.ListenerPath == "" {
		return fieldErr("linux.seccomp.listenerPath", "required with %s", rspec.ActNotify)
	}
	return nil
}

func checkLinuxMisc(s *rspec.Spec, l *rspec.Linux) error {
	if p := l.Personality; p != nil && p.Domain != rspec.PerLinux && p.Domain != rspec.PerLinux32 {
		return fieldErr("linux.personality.domain", "unknown domain %q", p.Domain)
	}
	if r := l.IntelRdt; r != nil && (r.ClosID == "." || r.ClosID == ".." || strings.Contains(r.ClosID, "/")) {
		return fieldErr("linux.intelRdt.closID", "%q is not a valid name", r.ClosID)
	}
	if mp := l.MemoryPolicy; mp != nil {
		switch mp.Mode {
		case rspec.MpolDefault, rspec.MpolBind, rspec.MpolInterleave, rspec.MpolWeightedInterleave,
			rspec.MpolPreferred, rspec.MpolPreferredMany, rspec.MpolLocal:
		default:
			return fieldErr("linux.memoryPolicy.mode", "unknown mode %q", mp.Mode)
		}
		for i, f := range mp.Flags {
			switch f {
			case rspec.MpolFNumaBalancing, rspec.MpolFRelativeNodes, rspec.MpolFStaticNodes:
			default:
				return fieldErr(fmt.Sprintf("linux.memoryPolicy.flags[%d]", i), "unknown flag %q", f)
			}
		}
	}
	if len(l.NetDevices) > 0 {
		if _, ok := Namespace(s, rspec.NetworkNamespace); !ok {
			return fieldErr("linux.netDevices", "requires a network namespace in linux.namespaces")
		}
		for _, name := range slices.Sorted(maps.Keys(l.NetDevices)) {
			if name == "" || strings.ContainsAny(name, "/ ") {
				return fieldErr(fmt.Sprintf("linux.netDevices[%q]", name), "not a valid interface name")
			}
		}
	}
	return nil
}
