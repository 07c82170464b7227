package seccomp

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"syscall"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// noPid is above any pid_max (at most 2^22), so getpgid and getpriority
// fail with ESRCH on it unless a filter answers first.
const noPid = 7777777

// probe is one syscall made before and after loading, with the errno
// expected each time (0: success).
type probe struct {
	name          string
	call          func() unix.Errno
	before, after unix.Errno
}

type loadCase struct {
	s      rspec.LinuxSeccomp
	probes []probe
}

func getpgid(pid uintptr) probe {
	return probe{name: fmt.Sprintf("getpgid(%#x)", pid), call: func() unix.Errno {
		_, _, e := unix.RawSyscall(unix.SYS_GETPGID, pid, 0, 0)
		return e
	}}
}

func (p probe) want(before, after unix.Errno) probe {
	p.before, p.after = before, after
	return p
}

// getpgidRule is a one-rule profile: getpgid with one condition fails with
// errno 42.
func getpgidRule(op rspec.LinuxSeccompOperator, value, valueTwo uint64) rspec.LinuxSeccomp {
	return rspec.LinuxSeccomp{
		DefaultAction: rspec.ActAllow,
		Syscalls: []rspec.LinuxSyscall{{
			Names: []string{"getpgid"}, Action: rspec.ActErrno, ErrnoRet: uintp(42),
			Args: []rspec.LinuxSeccompArg{{Index: 0, Value: value, ValueTwo: valueTwo, Op: op}},
		}},
	}
}

var loadCases = map[string]loadCase{
	"errno": {
		s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{
				// syscall.Mkdir is mkdirat on every Linux arch.
				{Names: []string{"mkdir", "mkdirat"}, Action: rspec.ActErrno, ErrnoRet: uintp(42)},
			},
		},
		probes: []probe{{name: "mkdir", before: unix.ENOENT, after: 42, call: func() unix.Errno {
			err := syscall.Mkdir("/proc/xrt-none/dir", 0o755)
			var e syscall.Errno
			errors.As(err, &e)
			return unix.Errno(e)
		}}},
	},
	"arg": {
		s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{{
				Names: []string{"personality"}, Action: rspec.ActErrno,
				Args: []rspec.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: rspec.OpEqualTo}},
			}},
		},
		probes: []probe{
			// 0xffffffff only reads the persona; 0 sets the one already set.
			{name: "personality(0xffffffff)", before: 0, after: unix.EPERM, call: personality(0xffffffff)},
			{name: "personality(0)", before: 0, after: 0, call: personality(0)},
		},
	},
	"eq": {s: getpgidRule(rspec.OpEqualTo, noPid, 0), probes: []probe{
		getpgid(noPid).want(unix.ESRCH, 42), getpgid(noPid+1).want(unix.ESRCH, unix.ESRCH)}},
	"ne": {s: getpgidRule(rspec.OpNotEqual, 0, 0), probes: []probe{
		getpgid(0).want(0, 0), getpgid(noPid).want(unix.ESRCH, 42)}},
	"lt": {s: getpgidRule(rspec.OpLessThan, 1, 0), probes: []probe{
		getpgid(0).want(0, 42), getpgid(noPid).want(unix.ESRCH, unix.ESRCH)}},
	"le": {s: getpgidRule(rspec.OpLessEqual, noPid, 0), probes: []probe{
		getpgid(noPid).want(unix.ESRCH, 42), getpgid(noPid+1).want(unix.ESRCH, unix.ESRCH)}},
	"gt": {s: getpgidRule(rspec.OpGreaterThan, noPid, 0), probes: []probe{
		getpgid(noPid+1).want(unix.ESRCH, 42), getpgid(noPid).want(unix.ESRCH, unix.ESRCH)}},
	"ge": {s: getpgidRule(rspec.OpGreaterEqual, noPid, 0), probes: []probe{
		getpgid(noPid).want(unix.ESRCH, 42), getpgid(noPid-1).want(unix.ESRCH, unix.ESRCH)}},
	// value is the mask, valueTwo the wanted result: swapped they would
	// match neither probe.
	"masked_eq": {s: getpgidRule(rspec.OpMaskedEqual, 0xff, 0x42), probes: []probe{
		getpgid(0x7700042).want(unix.ESRCH, 42), getpgid(0x7700043).want(unix.ESRCH, unix.ESRCH)}},
	// Two conditions on one argument become two rules: either matches.
	"same arg": {
		s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{{
				Names: []string{"getpgid"}, Action: rspec.ActErrno, ErrnoRet: uintp(42),
				Args: []rspec.LinuxSeccompArg{
					{Index: 0, Value: noPid, Op: rspec.OpEqualTo},
					{Index: 0, Value: noPid + 1, Op: rspec.OpEqualTo},
				},
			}},
		},
		probes: []probe{
			getpgid(noPid).want(unix.ESRCH, 42),
			getpgid(noPid+1).want(unix.ESRCH, 42),
			getpgid(noPid+2).want(unix.ESRCH, unix.ESRCH),
		},
	},
	// Conditions on different arguments must all match.
	"and": {
		s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{{
				Names: []string{"getpriority"}, Action: rspec.ActErrno, ErrnoRet: uintp(42),
				Args: []rspec.LinuxSeccompArg{
					{Index: 0, Value: unix.PRIO_PROCESS, Op: rspec.OpEqualTo},
					{Index: 1, Value: noPid, Op: rspec.OpEqualTo},
				},
			}},
		},
		probes: []probe{
			getpriority(unix.PRIO_PROCESS, noPid).want(unix.ESRCH, 42),
			getpriority(unix.PRIO_PROCESS, noPid+1).want(unix.ESRCH, unix.ESRCH),
			getpriority(unix.PRIO_PGRP, noPid).want(unix.ESRCH, unix.ESRCH),
		},
	},
	// A big allow-list with an errno default, as Docker's profile: the test
	// binary keeps running under it, and the one syscall left out gets
	// defaultErrnoRet.
	"default errno": {
		s: func() rspec.LinuxSeccomp {
			s := allowList(1000, "getpgid")
			s.DefaultErrnoRet = uintp(42)
			return s
		}(),
		probes: []probe{getpgid(0).want(0, 42)},
	},
	// With no tracer, SECCOMP_RET_TRACE fails the syscall with ENOSYS.
	"trace": {
		s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls:      []rspec.LinuxSyscall{{Names: []string{"getpgid"}, Action: rspec.ActTrace}},
		},
		probes: []probe{getpgid(noPid).want(unix.ESRCH, unix.ENOSYS)},
	},
	"log and flags": {
		s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Flags: []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog, rspec.LinuxSeccompFlagSpecAllow,
				rspec.LinuxSeccompFlagWaitKillableRecv},
			Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"getpgid"}, Action: rspec.ActLog},
				{Names: []string{"getpriority"}, Action: rspec.ActErrno, ErrnoRet: uintp(42)},
			},
		},
		probes: []probe{
			getpgid(noPid).want(unix.ESRCH, unix.ESRCH),
			getpriority(unix.PRIO_PROCESS, noPid).want(unix.ESRCH, 42),
		},
	},
	"tsync": {
		s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Flags:         []rspec.LinuxSeccompFlag{flagTsync},
			Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"getpgid"}, Action: rspec.ActErrno, ErrnoRet: uintp(42)},
			},
		},
		probes: []probe{getpgid(noPid).want(unix.ESRCH, 42)},
	},
}

func personality(persona uintptr) func() unix.Errno {
	return func() unix.Errno {
		_, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, persona, 0, 0)
		return e
	}
}

func getpriority(which, who uintptr) probe {
	return probe{name: fmt.Sprintf("getpriority(%d, %#x)", which, who), call: func() unix.Errno {
		_, _, e := unix.RawSyscall(unix.SYS_GETPRIORITY, which, who, 0)
		return e
	}}
}

// run is the child side of a loadCase.
func (c loadCase) run() error {
	for _, p := range c.probes {
		if e := p.call(); e != p.before {
			return fmt.Errorf("before loading: %s: errno %d (%v), want %d", p.name, e, e, p.before)
		}
	}
	fd, err := load(&c.s)
	if err != nil {
		return err
	}
	if fd != -1 {
		return fmt.Errorf("Load returned listener fd %d without SCMP_ACT_NOTIFY", fd)
	}
	for _, p := range c.probes {
		if e := p.call(); e != p.after {
			return fmt.Errorf("after loading: %s: errno %d (%v), want %d", p.name, e, e, p.after)
		}
	}
	return nil
}

func TestLoad(t *testing.T) {
	names := make([]string, 0, len(loadCases))
	for name := range loadCases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runChild(t, name)
		})
	}
}

func init() {
	children["kill process"] = func() error {
		if _, err := load(&rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls:      []rspec.LinuxSyscall{{Names: []string{"getpgid"}, Action: rspec.ActKillProcess}},
		}); err != nil {
			return err
		}
		unix.RawSyscall(unix.SYS_GETPGID, 0, 0, 0)
		return errors.New("getpgid returned under SCMP_ACT_KILL_PROCESS")
	}
}

func TestKillProcess(t *testing.T) {
	err := childCmd("kill process").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v, want killed by SIGSYS", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child: %v, want killed by SIGSYS", err)
	}
}

// allowList is a Docker-like profile: an errno default, the three x86
// architectures and up to n syscalls of the native table allowed, without
// the ones in skip.
func allowList(n int, skip ...string) rspec.LinuxSeccomp {
	s := rspec.LinuxSeccomp{
		DefaultAction: rspec.ActErrno,
		Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32},
	}
	var names []string
	for nr := 0; nr < 1024 && len(names) < n; nr++ {
		name, err := libseccomp.ScmpSyscall(nr).GetName()
		if err != nil || slices.Contains(skip, name) {
			continue
		}
		names = append(names, name)
	}
	s.Syscalls = []rspec.LinuxSyscall{{Names: names, Action: rspec.ActAllow}}
	return s
}
