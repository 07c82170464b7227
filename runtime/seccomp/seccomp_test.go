package seccomp

import (
	"runtime"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uintp(v uint) *uint { return &v }

func TestBuildRefuses(t *testing.T) {
	allow := rspec.LinuxSeccompAction(rspec.ActAllow)
	tests := []struct {
		name string
		s    rspec.LinuxSeccomp
		want string
	}{
		{"default action", rspec.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"},
			`linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"default errno on allow", rspec.LinuxSeccomp{DefaultAction: allow, DefaultErrnoRet: uintp(1)},
			`linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW takes no errno`},
		{"default errno too big", rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno, DefaultErrnoRet: uintp(70000)},
			`linux.seccomp.defaultErrnoRet: 70000 does not fit in 16 bits`},
		{"flag", rspec.LinuxSeccomp{DefaultAction: allow, Flags: []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_FOO"}},
			`linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`},
		{"arch", rspec.LinuxSeccomp{DefaultAction: allow, Architectures: []rspec.Arch{rspec.ArchX86, "SCMP_ARCH_VAX"}},
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`},
		{"action", rspec.LinuxSeccomp{DefaultAction: allow, Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"read"}, Action: rspec.ActErrno},
			{Names: []string{"write"}, Action: rspec.ActLog},
			{Names: []string{"open"}, Action: rspec.ActTrap},
			{Names: []string{"mkdir"}, Action: "SCMP_ACT_FOO"},
		}}, `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`},
		{"errno on kill", rspec.LinuxSeccomp{DefaultAction: allow, Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: rspec.ActKillProcess, ErrnoRet: uintp(1)},
		}}, `linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL_PROCESS takes no errno`},
		{"operator", rspec.LinuxSeccomp{DefaultAction: allow, Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"personality"}, Action: rspec.ActErrno, Args: []rspec.LinuxSeccompArg{
				{Index: 0, Value: 1, Op: rspec.OpEqualTo},
				{Index: 1, Value: 1, Op: "SCMP_CMP_ABOUT"},
			}},
		}}, `linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_ABOUT"`},
		{"arg index", rspec.LinuxSeccomp{DefaultAction: allow, Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"personality"}, Action: rspec.ActErrno, Args: []rspec.LinuxSeccompArg{
				{Index: 6, Value: 1, Op: rspec.OpEqualTo},
			}},
		}}, `linux.seccomp.syscalls[0].args[0].index: 6 is above 5`},
		{"no known name", rspec.LinuxSeccomp{DefaultAction: allow, Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: rspec.ActErrno},
			{Names: []string{"no_such_syscall", "another_one"}, Action: rspec.ActErrno},
		}}, `linux.seccomp.syscalls[1].names: no syscall known here among ["no_such_syscall" "another_one"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Build(&tt.s)
			if err == nil {
				t.Fatalf("Build accepted the profile: %+v", f)
			}
			if err.Error() != tt.want {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestBuildAccepts(t *testing.T) {
	tests := []struct {
		name       string
		s          rspec.LinuxSeccomp
		notify     bool
		flags      uintptr
		unfiltered bool // compiles to the same program as a bare default
	}{
		{name: "unknown syscall names beside known ones are skipped", unfiltered: true, s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"no_such_syscall", "mkdir"}, Action: rspec.ActAllow},
			}}},
		{name: "rules with the default action are skipped", unfiltered: true, s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"mkdir"}, Action: rspec.ActAllow},
			}}},
		{name: "syscall of another arch only", s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActErrno,
			Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32},
			Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"socketcall", "arm_fadvise64_64", "read"}, Action: rspec.ActAllow},
			}}},
		{name: "flags", unfiltered: true, flags: unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, s: rspec.LinuxSeccomp{
			DefaultAction: rspec.ActAllow,
			Flags: []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog, rspec.LinuxSeccompFlagSpecAllow,
				rspec.LinuxSeccompFlagWaitKillableRecv},
		}},
		{name: "notify", notify: true,
			flags: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV |
				unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
			s: rspec.LinuxSeccomp{
				DefaultAction: rspec.ActAllow,
				Flags:         []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagWaitKillableRecv, flagTsync},
				Syscalls: []rspec.LinuxSyscall{
					{Names: []string{"mkdir"}, Action: rspec.ActNotify},
				}}},
		{name: "all actions and operators", s: rspec.LinuxSeccomp{
			DefaultAction:   rspec.ActErrno,
			DefaultErrnoRet: uintp(38),
			Syscalls: []rspec.LinuxSyscall{
				{Names: []string{"read"}, Action: rspec.ActAllow},
				{Names: []string{"write"}, Action: rspec.ActLog},
				{Names: []string{"mkdir"}, Action: rspec.ActKill},
				{Names: []string{"rmdir"}, Action: rspec.ActKillThread},
				{Names: []string{"unlink"}, Action: rspec.ActKillProcess},
				{Names: []string{"chmod"}, Action: rspec.ActTrap},
				{Names: []string{"chown"}, Action: rspec.ActTrace, ErrnoRet: uintp(5)},
				{Names: []string{"getpgid"}, Action: rspec.ActErrno, ErrnoRet: uintp(42)},
				{Names: []string{"personality"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{
					{Index: 0, Value: 0, Op: rspec.OpEqualTo},
					{Index: 0, Value: 8, Op: rspec.OpEqualTo},
					{Index: 0, Value: 0x20000, Op: rspec.OpEqualTo},
				}},
				{Names: []string{"clone"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{
					{Index: 0, Value: 0x7e020000, ValueTwo: 0, Op: rspec.OpMaskedEqual},
				}},
				{Names: []string{"kill"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{
					{Index: 0, Value: 1, Op: rspec.OpGreaterThan},
					{Index: 1, Value: 64, Op: rspec.OpLessThan},
				}},
				{Names: []string{"tkill"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{
					{Index: 0, Value: 1, Op: rspec.OpGreaterEqual},
					{Index: 1, Value: 64, Op: rspec.OpLessEqual},
					{Index: 2, Value: 3, Op: rspec.OpNotEqual},
				}},
			}}},
	}
	bare, err := Build(&rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Build(&tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if f.notify != tt.notify {
				t.Errorf("notify %v, want %v", f.notify, tt.notify)
			}
			if f.flags != tt.flags {
				t.Errorf("flags %#x, want %#x", f.flags, tt.flags)
			}
			if int(f.fprog.Len) != len(f.prog) || f.fprog.Filter != &f.prog[0] {
				t.Errorf("fprog does not describe prog")
			}
			same := len(f.prog) == len(bare.prog)
			for i := 0; same && i < len(f.prog); i++ {
				same = f.prog[i] == bare.prog[i]
			}
			if same != tt.unfiltered {
				t.Errorf("program equal to a bare allow filter: %v, want %v (%d vs %d insns)", same, tt.unfiltered, len(f.prog), len(bare.prog))
			}
		})
	}
}

func TestNilAndReleased(t *testing.T) {
	f, err := Build(nil)
	if err != nil || f != nil {
		t.Fatalf("Build(nil) = %v, %v", f, err)
	}
	if fd, err := f.Load(); fd != -1 || err != nil {
		t.Fatalf("nil Load = %d, %v", fd, err)
	}
	f.Release()

	f, err = Build(&rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow})
	if err != nil {
		t.Fatal(err)
	}
	f.Release()
	if _, err := f.Load(); err == nil || !strings.Contains(err.Error(), "released") {
		t.Fatalf("Load after Release: %v", err)
	}
}

// Load runs after the last allocation the init may make; it must not
// allocate itself. It runs on a thread that exits with its filters.
func TestLoadAllocatesNothing(t *testing.T) {
	f, err := Build(&rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
		Syscalls: []rspec.LinuxSyscall{{Names: []string{"getpgid"}, Action: rspec.ActErrno}}})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		allocs float64
		err    error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			res <- result{err: err}
			return
		}
		var lerr error
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := f.Load(); err != nil {
				lerr = err
			}
		})
		res <- result{allocs, lerr}
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.allocs != 0 {
		t.Fatalf("Load allocates %v times", r.allocs)
	}
}
