package integration

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// denyMkdir is a profile that allows everything but mkdir and mkdirat.
func denyMkdir(action rspec.LinuxSeccompAction, errno uint) *rspec.LinuxSeccomp {
	sc := &rspec.LinuxSeccomp{
		DefaultAction: rspec.ActAllow,
		Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32},
		Syscalls:      []rspec.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: action}},
	}
	if errno != 0 {
		sc.Syscalls[0].ErrnoRet = &errno
	}
	return sc
}

func TestSeccomp(t *testing.T) {
	// mkdir works as root without a filter (on a writable root); with one it
	// gets the chosen errno.
	try := []string{"sh", "-c", "mkdir /tmp/x && echo made; echo done"}
	writable := func(_ *testing.T, b *bundle) { b.spec.Root.Readonly = false }
	runInside(t, []insideCase{
		{name: "no filter", args: try, edit: writable, want: "made\ndone"},
		{name: "errno with no_new_privs", args: try,
			edit: func(t *testing.T, b *bundle) {
				writable(t, b)
				b.spec.Process.NoNewPrivileges = true
				b.spec.Linux.Seccomp = denyMkdir(rspec.ActErrno, uint(unix.EACCES))
			},
			want: "done", wantErr: "Permission denied"},
		{name: "errno without no_new_privs (loaded while init is privileged)", args: try,
			edit: func(t *testing.T, b *bundle) {
				writable(t, b)
				b.spec.Process.NoNewPrivileges = false
				b.spec.Linux.Seccomp = denyMkdir(rspec.ActErrno, uint(unix.EXDEV))
			},
			want: "done", wantErr: "cross-device link"},
		{name: "argument condition", args: []string{"sh", "-c", "kill -0 $$ && echo kill0-allowed; kill -CONT $$ || echo cont-denied"},
			edit: func(_ *testing.T, b *bundle) {
				one := uint(unix.EPERM)
				b.spec.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{{
					Names: []string{"kill"}, Action: rspec.ActErrno, ErrnoRet: &one,
					Args: []rspec.LinuxSeccompArg{{Index: 1, Value: uint64(unix.SIGCONT), Op: rspec.OpEqualTo}},
				}}}
			},
			want: "kill0-allowed\ncont-denied", anyCode: true},
		{name: "kill the process", args: try,
			edit: func(t *testing.T, b *bundle) {
				writable(t, b)
				b.spec.Linux.Seccomp = denyMkdir(rspec.ActKillProcess, 0)
			},
			// mkdir (a child of sh) dies with SIGSYS; sh goes on.
			want: "done"},
	})
}

func TestSeccompBadProfile(t *testing.T) {
	b := newBundle(t, "true")
	b.spec.Linux.Seccomp = denyMkdir("SCMP_ACT_BOGUS", 0)
	snap := snapshotHost(t, b.root)
	r := b.create()
	if r.code == 0 || !strings.Contains(r.stderr, "linux.seccomp.syscalls[0].action") {
		t.Fatalf("want an error naming linux.seccomp.syscalls[0].action, got %s", r)
	}
	snap.checkUnchanged(t)
}

// TestSeccompNotify hands the notify fd to an agent on listenerPath, with
// the container's state; once the agent closes the fd, the notified
// syscall fails with ENOSYS instead of hanging.
func TestSeccompNotify(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sh", "-c", "mkdir /tmp/x 2>&1; echo done")
	b.spec.Root.Readonly = false
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b.spec.Process.NoNewPrivileges = true
	b.spec.Linux.Seccomp = denyMkdir(rspec.ActNotify, 0)
	b.spec.Linux.Seccomp.ListenerPath = sock
	b.spec.Linux.Seccomp.ListenerMetadata = "from-the-test"

	type agentResult struct {
		state rspec.ContainerProcessState
		fds   int
		err   error
	}
	got := make(chan agentResult, 1)
	go func() {
		var res agentResult
		defer func() { got <- res }()
		ln.SetDeadline(time.Now().Add(20 * time.Second))
		conn, err := ln.AcceptUnix()
		if err != nil {
			res.err = err
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 8192), make([]byte, 256)
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			res.err = err
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			fds, _ := unix.ParseUnixRights(&m)
			for _, fd := range fds {
				res.fds++
				unix.Close(fd) // no agent: the notified syscall gets ENOSYS
			}
		}
		res.err = json.Unmarshal(buf[:n], &res.state)
	}()
	r := b.run()
	a := <-got
	if a.err != nil || a.fds != 1 {
		t.Fatalf("agent: %v, %d fds", a.err, a.fds)
	}
	if a.state.Metadata != "from-the-test" || a.state.State.ID != b.id || a.state.Pid <= 0 || len(a.state.Fds) != 1 {
		t.Errorf("agent got state %+v", a.state)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "Function not implemented") || !strings.Contains(r.stdout, "done") {
		t.Errorf("want mkdir to fail with ENOSYS, got %s", r)
	}
}
