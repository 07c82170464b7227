package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	children["set-user"] = childSetUser
	children["rlimit-start"] = childRlimitStart
	children["rlimit-lower"] = childRlimitLower
	children["rlimit-raise-hard"] = childRlimitRaiseHard
	children["cwd-unreachable"] = childCwdUnreachable
}

func hasEffectiveCap(t *testing.T, c int) bool {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&hdr, &d[0]); err != nil {
		t.Fatal(err)
	}
	return d[c/32].Effective&(1<<(c%32)) != 0
}

func TestSetUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change uid and groups")
	}
	out, err := runChild(t, "set-user")
	if err != nil {
		t.Fatal(err)
	}
	// One block per thread: every thread must have the new ids.
	threads := strings.Split(strings.TrimSpace(string(out)), "\n\n")
	if len(threads) < 2 {
		t.Fatalf("want several threads in the Go child, got %d:\n%s", len(threads), out)
	}
	for _, th := range threads {
		for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "Groups:\t100 65533"} {
			if !strings.Contains(th, want) {
				t.Errorf("thread status lacks %q:\n%s", want, th)
			}
		}
	}
}

func childSetUser() error {
	if err := SetUser(rspec.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65533, 100}}); err != nil {
		return err
	}
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		return err
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") || strings.HasPrefix(l, "Groups:") {
				fmt.Println(strings.TrimSpace(l))
			}
		}
		fmt.Println()
	}
	return nil
}

func TestSetRlimitsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []rspec.POSIXRlimit
		want string
	}{
		{"unknown type", []rspec.POSIXRlimit{{Type: "RLIMIT_TEST", Soft: 1024, Hard: 1024}}, `process.rlimits: unknown type "RLIMIT_TEST"`},
		{"soft above hard", []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}, "process.rlimits RLIMIT_NOFILE: soft limit 2048 is above hard limit 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SetRlimits(tt.in)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("SetRlimits() error = %v, want %q", err, tt.want)
			}
		})
	}
}

// Lowering a soft limit needs no privilege. The child then execs a shell,
// which proves Go does not put back its own RLIMIT_NOFILE at exec: Go
// raises a soft limit below the hard one at startup and restores it at
// exec unless the program set the limit through the syscall package.
func TestSetRlimitsSurviveExec(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh to print the limits after exec")
	}
	out, err := runChild(t, "rlimit-start")
	if err != nil {
		t.Fatal(err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	hard := "unlimited"
	if lim.Max != unix.RLIM_INFINITY {
		hard = strconv.FormatUint(lim.Max, 10)
	}
	want := "nofile 64 " + hard + "\ncore 0 0\n"
	if string(out) != want {
		t.Fatalf("limits after exec = %q, want %q", out, want)
	}
}

// childRlimitStart starts the real child with a soft RLIMIT_NOFILE well
// below the hard one, so that the Go runtime there raises it and remembers
// the original.
func childRlimitStart() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Max < 256 {
		return fmt.Errorf("hard RLIMIT_NOFILE %d is too low for this test", lim.Max)
	}
	lim.Cur = 200
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if err := os.Setenv(childEnv, "rlimit-lower"); err != nil {
		return err
	}
	return syscall.Exec(os.Args[0], os.Args[:1], os.Environ())
}

func childRlimitLower() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	err := SetRlimits([]rspec.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 64, Hard: lim.Max},
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
	})
	if err != nil {
		return err
	}
	return syscall.Exec("/bin/sh", []string{"sh", "-c", `echo nofile $(ulimit -Sn) $(ulimit -Hn); echo core $(ulimit -Sc) $(ulimit -Hc)`}, nil)
}

func TestSetRlimitsRaiseHard(t *testing.T) {
	out, err := runChild(t, "rlimit-raise-hard")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(string(out))
	if hasEffectiveCap(t, unix.CAP_SYS_RESOURCE) {
		if got != "ok" {
			t.Fatalf("with CAP_SYS_RESOURCE, raising the hard limit failed: %s", got)
		}
		return
	}
	if !strings.Contains(got, "process.rlimits RLIMIT_NOFILE: raising the hard limit from") || !strings.Contains(got, "needs CAP_SYS_RESOURCE") {
		t.Fatalf("without CAP_SYS_RESOURCE, error = %q, want it to name the limit and the capability", got)
	}
}

func childRlimitRaiseHard() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	low := unix.Rlimit{Cur: 32, Max: 64}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		return err
	}
	if err := SetRlimits([]rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 32, Hard: 128}}); err != nil {
		fmt.Println(err)
	} else {
		fmt.Println("ok")
	}
	return nil
}

func TestSetOOMScoreAdj(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("needs sleep(1): %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	read := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	orig := read()
	if err := SetOOMScoreAdj(pid, nil); err != nil || read() != orig {
		t.Fatalf("nil adj changed the score or failed: %v", err)
	}
	// Raising needs no privilege; going back to the start value neither.
	for _, adj := range []int{500, orig} {
		if err := SetOOMScoreAdj(pid, &adj); err != nil {
			t.Fatal(err)
		}
		if got := read(); got != adj {
			t.Fatalf("oom_score_adj = %d, want %d", got, adj)
		}
	}
	bad := 1001
	if err := SetOOMScoreAdj(pid, &bad); err == nil || !strings.Contains(err.Error(), "process.oomScoreAdj 1001") {
		t.Fatalf("out of range adj: error = %v", err)
	}
}

func TestIOPrio(t *testing.T) {
	tests := []struct {
		in      rspec.LinuxIOPriority
		want    uint32
		wantErr string
	}{
		{rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_RT, Priority: 0}, 1 << 13, ""},
		{rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE, Priority: 4}, 2<<13 | 4, ""},
		{rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_IDLE, Priority: 7}, 3<<13 | 7, ""},
		{rspec.LinuxIOPriority{Class: "IOPRIO_CLASS_NONE", Priority: 0}, 0, `process.ioPriority.class: unknown class "IOPRIO_CLASS_NONE"`},
		{rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE, Priority: 8}, 0, "process.ioPriority.priority 8: not between 0 and 7"},
		{rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE, Priority: -1}, 0, "process.ioPriority.priority -1: not between 0 and 7"},
	}
	for _, tt := range tests {
		got, err := ioprio(&tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ioprio(%+v) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ioprio(%+v) = %#x, %v; want %#x", tt.in, got, err, tt.want)
		}
	}
}

func TestSetIOPriorityOnThread(t *testing.T) {
	err := onThread(func() error {
		if err := SetIOPriority(&rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE, Priority: 6}); err != nil {
			return err
		}
		v, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
		if errno != 0 {
			return errno
		}
		if v != 2<<13|6 {
			return fmt.Errorf("ioprio_get = %#x, want %#x", v, 2<<13|6)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := SetIOPriority(nil); err != nil {
		t.Fatal(err)
	}
}

func TestSchedAttr(t *testing.T) {
	tests := []struct {
		name    string
		in      rspec.Scheduler
		want    unix.SchedAttr
		wantErr string
	}{
		{
			name: "other with nice",
			in:   rspec.Scheduler{Policy: rspec.SchedOther, Nice: -5},
			want: unix.SchedAttr{Size: 56, Policy: 0, Nice: -5},
		},
		{
			name: "fifo with priority and flags",
			in:   rspec.Scheduler{Policy: rspec.SchedFIFO, Priority: 10, Flags: []rspec.LinuxSchedulerFlag{rspec.SchedFlagResetOnFork, rspec.SchedFlagKeepParams}},
			want: unix.SchedAttr{Size: 56, Policy: 1, Priority: 10, Flags: 0x11},
		},
		{
			name: "deadline",
			in:   rspec.Scheduler{Policy: rspec.SchedDeadline, Runtime: 1e6, Deadline: 2e6, Period: 3e6, Flags: []rspec.LinuxSchedulerFlag{rspec.SchedFlagReclaim, rspec.SchedFlagDLOverrun}},
			want: unix.SchedAttr{Size: 56, Policy: 6, Runtime: 1e6, Deadline: 2e6, Period: 3e6, Flags: 0x6},
		},
		{
			name: "every policy name maps",
			in:   rspec.Scheduler{Policy: rspec.SchedIdle, Flags: []rspec.LinuxSchedulerFlag{rspec.SchedFlagKeepPolicy, rspec.SchedFlagUtilClampMin, rspec.SchedFlagUtilClampMax}},
			want: unix.SchedAttr{Size: 56, Policy: 5, Flags: 0x68},
		},
		{name: "unknown policy", in: rspec.Scheduler{Policy: "SCHED_FAST"}, wantErr: `process.scheduler.policy: unknown policy "SCHED_FAST"`},
		{name: "unknown flag", in: rspec.Scheduler{Policy: rspec.SchedBatch, Flags: []rspec.LinuxSchedulerFlag{"SCHED_FLAG_X"}}, wantErr: `process.scheduler.flags: unknown flag "SCHED_FLAG_X"`},
		{name: "nice too low", in: rspec.Scheduler{Policy: rspec.SchedOther, Nice: -21}, wantErr: "process.scheduler.nice -21: not between -20 and 19"},
		{name: "negative priority", in: rspec.Scheduler{Policy: rspec.SchedRR, Priority: -1}, wantErr: "process.scheduler.priority -1: negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := schedAttr(&tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("schedAttr() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("schedAttr() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSetSchedulerOnThread(t *testing.T) {
	err := onThread(func() error {
		if err := SetScheduler(&rspec.Scheduler{Policy: rspec.SchedBatch, Nice: 7}); err != nil {
			return err
		}
		a, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			return err
		}
		if a.Policy != unix.SCHED_BATCH || a.Nice != 7 {
			return fmt.Errorf("sched_getattr = policy %d nice %d, want %d and 7", a.Policy, a.Nice, unix.SCHED_BATCH)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestThreadFlags(t *testing.T) {
	err := onThread(func() error {
		if err := SetKeepCaps(true); err != nil {
			return err
		}
		if v, err := unix.PrctlRetInt(unix.PR_GET_KEEPCAPS, 0, 0, 0, 0); err != nil || v != 1 {
			return fmt.Errorf("keepcaps after SetKeepCaps(true) = %d, %v", v, err)
		}
		if err := SetKeepCaps(false); err != nil {
			return err
		}
		if v, err := unix.PrctlRetInt(unix.PR_GET_KEEPCAPS, 0, 0, 0, 0); err != nil || v != 0 {
			return fmt.Errorf("keepcaps after SetKeepCaps(false) = %d, %v", v, err)
		}
		if err := SetNoNewPrivileges(); err != nil {
			return err
		}
		if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || v != 1 {
			return fmt.Errorf("no_new_privs = %d, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCloseExtraFDs(t *testing.T) {
	for _, tt := range []struct {
		name string
		mark func(int) error
	}{
		{"close_range", CloseExtraFDs},
		{"proc walk fallback", cloexecFrom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Two descriptors opened without O_CLOEXEC; only the upper one
			// is at or above keep.
			lo, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(lo)
			hi, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(hi)
			if err := tt.mark(hi); err != nil {
				t.Fatal(err)
			}
			for fd, want := range map[int]bool{lo: false, hi: true} {
				flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil {
					t.Fatal(err)
				}
				if got := flags&unix.FD_CLOEXEC != 0; got != want {
					t.Errorf("fd %d close-on-exec = %v, want %v", fd, got, want)
				}
			}
		})
	}
	if err := CloseExtraFDs(-1); err == nil {
		t.Error("CloseExtraFDs(-1) succeeded")
	}
}

func TestCheckCwd(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cwd     string
		wantErr string
	}{
		{dir, ""},
		{filepath.Join(dir, "link"), ""},
		{"relative/dir", `process.cwd "relative/dir": not an absolute path`},
		{"", `process.cwd "": not an absolute path`},
		{filepath.Join(dir, "missing"), "process.cwd " + filepath.Join(dir, "missing") + ": no such file or directory"},
	}
	for _, tt := range tests {
		err := CheckCwd(tt.cwd)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckCwd(%q) = %v", tt.cwd, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("CheckCwd(%q) error = %v, want %q", tt.cwd, err, tt.wantErr)
		}
	}
}

// A cwd that resolves outside the root through a leaked descriptor must
// be refused, as in CVE-2024-21626.
func TestCheckCwdUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace and chroot")
	}
	out, err := runChild(t, "cwd-unreachable")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); !strings.Contains(got, "not reachable from the container's root") {
		t.Fatalf("CheckCwd through a leaked fd: %q, want the unreachable error", got)
	}
}

func childCwdUnreachable() error {
	root, err := os.MkdirTemp("", "xrt-cwd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	outside, err := os.Open(os.TempDir()) // the "leaked" host descriptor
	if err != nil {
		return err
	}
	// The mount namespace and root belong to this locked thread only.
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	proc := filepath.Join(root, "proc")
	if err := os.Mkdir(proc, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", 0, ""); err != nil {
		return err
	}
	if err := unix.Chroot(root); err != nil {
		return err
	}
	err = CheckCwd(fmt.Sprintf("/proc/self/fd/%d", outside.Fd()))
	if err == nil {
		return errors.New("CheckCwd accepted a directory outside the root")
	}
	fmt.Println(err)
	return nil
}

func TestLookupEnvPath(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a/tool", 0o755)
	write("b/tool", 0o755)
	write("b/data", 0o644)
	write("c/data", 0o755)
	if err := os.MkdirAll(filepath.Join(dir, "a/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")

	tests := []struct {
		name    string
		env     []string
		file    string
		want    string
		wantErr string
	}{
		{"first dir wins", []string{"PATH=" + a + ":" + b}, "tool", a + "/tool", ""},
		{"order matters", []string{"PATH=" + b + ":" + a}, "tool", b + "/tool", ""},
		{"last PATH in env wins", []string{"PATH=" + a, "HOME=/", "PATH=" + b}, "tool", b + "/tool", ""},
		{"skips non-executable", []string{"PATH=" + b + ":" + c}, "data", c + "/data", ""},
		{"skips directories", []string{"PATH=" + dir + ":" + a}, "a", "", "executable file not found in $PATH: a (" + dir + "/a: is a directory)"},
		{"not found", []string{"PATH=" + a}, "nope", "", "executable file not found in $PATH: nope"},
		{"only non-executable", []string{"PATH=" + b}, "data", "", "executable file not found in $PATH: data (" + b + "/data: permission denied)"},
		{"absolute", nil, a + "/tool", a + "/tool", ""},
		{"absolute missing", nil, a + "/nope", "", a + "/nope: no such file or directory"},
		{"absolute directory", nil, a + "/sub", "", a + "/sub: is a directory"},
		{"absolute not executable", nil, b + "/data", "", b + "/data: permission denied"},
		{"runtime PATH is not used", []string{"HOME=/"}, "tool", "", "executable file not found in $PATH: tool"},
		{"empty name", nil, "", "", "process.args[0] is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookupEnvPath(tt.env, tt.file)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("LookupEnvPath() = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("LookupEnvPath() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	_, err := LookupEnvPath(nil, "no-such-tool-xrt")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v does not wrap ErrNotFound", err)
	}
	// Without PATH in env, execvp's default is searched.
	if got, err := LookupEnvPath(nil, "sh"); err != nil || !slices.Contains([]string{"/bin/sh", "/usr/bin/sh"}, got) {
		t.Errorf("LookupEnvPath(nil, sh) = %q, %v; want the default PATH searched", got, err)
	}
}
