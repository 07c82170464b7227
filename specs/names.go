package specs

import (
	"os"
	"strconv"
	"strings"
	"sync"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNames holds every capability name, indexed by its number.
var capNames = [...]string{
	unix.CAP_CHOWN:              "CAP_CHOWN",
	unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	unix.CAP_FOWNER:             "CAP_FOWNER",
	unix.CAP_FSETID:             "CAP_FSETID",
	unix.CAP_KILL:               "CAP_KILL",
	unix.CAP_SETGID:             "CAP_SETGID",
	unix.CAP_SETUID:             "CAP_SETUID",
	unix.CAP_SETPCAP:            "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	unix.CAP_NET_RAW:            "CAP_NET_RAW",
	unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	unix.CAP_MKNOD:              "CAP_MKNOD",
	unix.CAP_LEASE:              "CAP_LEASE",
	unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	unix.CAP_SETFCAP:            "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG:             "CAP_SYSLOG",
	unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	unix.CAP_PERFMON:            "CAP_PERFMON",
	unix.CAP_BPF:                "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

// Capabilities maps every capability name ("CAP_CHOWN") to its number.
// The kernel may know fewer: see LastCap.
var Capabilities = func() map[string]int {
	m := make(map[string]int, len(capNames))
	for i, n := range capNames {
		m[n] = i
	}
	return m
}()

// CapabilityNames returns every capability name in numeric order.
func CapabilityNames() []string {
	return append([]string(nil), capNames[:]...)
}

var lastCap = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	return n
})

// LastCap returns the highest capability number the running kernel knows,
// so that callers can skip capabilities it lacks. It reads
// /proc/sys/kernel/cap_last_cap once.
func LastCap() int { return lastCap() }

// Rlimits maps every rlimit name in process.rlimits to its resource number.
var Rlimits = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// namespaceTypes lists every namespace type, sorted by name.
var namespaceTypes = [...]rspec.LinuxNamespaceType{
	rspec.CgroupNamespace,
	rspec.IPCNamespace,
	rspec.MountNamespace,
	rspec.NetworkNamespace,
	rspec.PIDNamespace,
	rspec.TimeNamespace,
	rspec.UserNamespace,
	rspec.UTSNamespace,
}

// NamespaceFlag returns the CLONE_NEW* flag of a namespace type, and false
// for a type it does not know.
func NamespaceFlag(t rspec.LinuxNamespaceType) (uintptr, bool) {
	switch t {
	case rspec.CgroupNamespace:
		return unix.CLONE_NEWCGROUP, true
	case rspec.IPCNamespace:
		return unix.CLONE_NEWIPC, true
	case rspec.MountNamespace:
		return unix.CLONE_NEWNS, true
	case rspec.NetworkNamespace:
		return unix.CLONE_NEWNET, true
	case rspec.PIDNamespace:
		return unix.CLONE_NEWPID, true
	case rspec.TimeNamespace:
		return unix.CLONE_NEWTIME, true
	case rspec.UserNamespace:
		return unix.CLONE_NEWUSER, true
	case rspec.UTSNamespace:
		return unix.CLONE_NEWUTS, true
	}
	return 0, false
}

// Namespace returns the entry of type t in s.linux.namespaces, and false
// when the container shares that namespace with the runtime.
func Namespace(s *rspec.Spec, t rspec.LinuxNamespaceType) (rspec.LinuxNamespace, bool) {
	if s == nil || s.Linux == nil {
		return rspec.LinuxNamespace{}, false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns, true
		}
	}
	return rspec.LinuxNamespace{}, false
}

// hookNames lists the hooks this runtime runs, in lifecycle order.
var hookNames = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

var seccompActions = []string{
	string(rspec.ActAllow), string(rspec.ActErrno), string(rspec.ActKill),
	string(rspec.ActKillProcess), string(rspec.ActKillThread), string(rspec.ActLog),
	string(rspec.ActNotify), string(rspec.ActTrace), string(rspec.ActTrap),
}

var seccompOperators = []string{
	string(rspec.OpEqualTo), string(rspec.OpGreaterEqual), string(rspec.OpGreaterThan),
	string(rspec.OpLessEqual), string(rspec.OpLessThan), string(rspec.OpMaskedEqual),
	string(rspec.OpNotEqual),
}

// seccompArchs are the architecture names libseccomp-golang translates.
var seccompArchs = []string{
	string(rspec.ArchAARCH64), string(rspec.ArchARM), string(rspec.ArchMIPS),
	string(rspec.ArchMIPS64), string(rspec.ArchMIPS64N32), string(rspec.ArchMIPSEL),
	string(rspec.ArchMIPSEL64), string(rspec.ArchMIPSEL64N32), string(rspec.ArchPARISC),
	string(rspec.ArchPARISC64), string(rspec.ArchPPC), string(rspec.ArchPPC64),
	string(rspec.ArchPPC64LE), string(rspec.ArchRISCV64), string(rspec.ArchS390),
	string(rspec.ArchS390X), string(rspec.ArchX32), string(rspec.ArchX86),
	string(rspec.ArchX86_64),
}

var seccompFlags = []string{
	string(rspec.LinuxSeccompFlagLog),
	string(rspec.LinuxSeccompFlagSpecAllow),
	"SECCOMP_FILTER_FLAG_TSYNC",
	string(rspec.LinuxSeccompFlagWaitKillableRecv),
}
