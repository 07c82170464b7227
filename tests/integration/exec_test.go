package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runningBundle starts a container that sleeps, detached, with a writable
// root; edit changes its config first.
func runningBundle(t *testing.T, edit func(b *bundle)) *bundle {
	t.Helper()
	b := newBundle(t, "sleep", "1000")
	b.spec.Root.Readonly = false
	if edit != nil {
		edit(b)
	}
	if r := b.run("--detach"); r.code != 0 {
		t.Fatalf("run -d: %s", r)
	}
	// run -d returns once init is released, maybe before its execve.
	pid := strconv.Itoa(b.mustState(b.id).Pid)
	waitFor(t, "the container's init to exec sleep", func() bool {
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		return strings.HasPrefix(string(cmdline), "sleep\x00")
	})
	return b
}

// exec runs `xrt exec flags... <id> cmd...`: flags come before the id, as with runc.
func (b *bundle) exec(flags []string, cmd ...string) result {
	b.t.Helper()
	args := append(append([]string{"exec"}, flags...), b.id)
	return b.xrt(append(args, cmd...)...)
}

func TestExecExitCodes(t *testing.T) {
	t.Parallel()
	b := runningBundle(t, nil)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"sh", "-c", "kill -KILL $$"}, 128 + 9},
		{[]string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
	} {
		if r := b.exec(nil, tc.args...); r.code != tc.code {
			t.Errorf("want exit %d, got %s", tc.code, r)
		}
	}
	// Output reaches the caller, and the container keeps running.
	if r := b.exec(nil, "echo", "hello"); r.code != 0 || r.stdout != "hello\n" {
		t.Errorf("want hello, got %s", r)
	}
	if st := b.mustState(b.id); st.Status != "running" {
		t.Errorf("container is %s after the execs", st.Status)
	}
}

func TestExecProcessFlags(t *testing.T) {
	t.Parallel()
	b := runningBundle(t, func(b *bundle) {
		b.spec.Process.Env = append(b.spec.Process.Env, "KEEP=1", "FOO=old")
	})
	cases := []struct {
		name  string
		flags []string
		cmd   []string
		want  string
	}{
		{"env replaces and adds, commas kept", []string{"-e", "FOO=a,b", "-e", "NEW=x"}, []string{"sh", "-c", "echo $FOO $NEW $KEEP"}, "a,b x 1"},
		{"cwd", []string{"--cwd", "/tmp"}, []string{"pwd"}, "/tmp"},
		{"user and additional gids", []string{"-u", "1000:1001", "--additional-gids", "5", "--additional-gids", "6"}, []string{"id"},
			"uid=1000 gid=1001 groups=5,6"},
		{"uid only keeps the gid", []string{"--user", "1000"}, []string{"id", "-g"}, "0"},
		// The default set (AUDIT_WRITE, KILL, NET_BIND_SERVICE) plus SYS_ADMIN (21).
		{"cap", []string{"--cap", "CAP_SYS_ADMIN"}, []string{"grep", "CapEff", "/proc/self/status"}, "CapEff:\t0000000020200420"},
		{"no cap without the flag", nil, []string{"grep", "CapEff", "/proc/self/status"}, "CapEff:\t0000000020000420"},
		{"no-new-privs", []string{"--no-new-privs"}, []string{"grep", "NoNewPrivs", "/proc/self/status"}, "NoNewPrivs:\t1"},
		{"no terminal without -t", nil, []string{"sh", "-c", "tty || true"}, "not a tty"},
		{"command flags after the id belong to the command", nil, []string{"ls", "-d", "/tmp"}, "/tmp"},
	}
	for _, tc := range cases {
		r := b.exec(tc.flags, tc.cmd...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != tc.want {
			t.Errorf("%s: want %q, got %s", tc.name, tc.want, r)
		}
	}
}

// TestExecNamespaces checks that the process is in the container's pid
// namespace (its ps sees the container's init as pid 1), and in every
// namespace and cgroup of init.
func TestExecNamespaces(t *testing.T) {
	t.Parallel()
	b := runningBundle(t, nil)
	r := b.exec(nil, "ps", "-o", "pid,args")
	if r.code != 0 {
		t.Fatalf("ps: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 3 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "1 ") || !strings.Contains(lines[1], "sleep 1000") {
		t.Errorf("want pid 1 = sleep 1000, then ps itself, got:\n%s", r.stdout)
	}

	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	if r := b.exec([]string{"--detach", "--pid-file", pidFile}, "sleep", "1000"); r.code != 0 {
		t.Fatalf("exec -d: %s", r)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil || !alive(pid) {
		t.Fatalf("pid file %q: not a live process (%v)", data, err)
	}
	init := strconv.Itoa(b.mustState(b.id).Pid)
	for _, ns := range []string{"mnt", "pid", "net", "ipc", "uts", "cgroup", "user"} {
		want, _ := os.Readlink("/proc/" + init + "/ns/" + ns)
		got, _ := os.Readlink("/proc/" + string(data) + "/ns/" + ns)
		if got != want {
			t.Errorf("namespace %s: init has %s, the exec'd process %s", ns, want, got)
		}
	}
	want, _ := os.ReadFile("/proc/" + init + "/cgroup")
	got, _ := os.ReadFile("/proc/" + string(data) + "/cgroup")
	if string(got) != string(want) || len(got) == 0 {
		t.Errorf("cgroups: init in\n%s\nthe exec'd process in\n%s", want, got)
	}
	// Killing the container's init takes the exec'd process with it.
	if r := b.xrt("kill", b.id, "KILL"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	waitFor(t, "the exec'd process to die with the pid namespace", func() bool { return !alive(pid) })
}

func TestExecSeccomp(t *testing.T) {
	t.Parallel()
	b := runningBundle(t, func(b *bundle) {
		b.spec.Process.NoNewPrivileges = true
		b.spec.Linux.Seccomp = denyMkdir(rspec.ActErrno, uint(unix.EPERM))
	})
	r := b.exec(nil, "mkdir", "/tmp/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("want mkdir refused with EPERM, got %s", r)
	}
	if exists(b.rootfs("tmp/x")) {
		t.Error("the directory was made")
	}
	if r := b.exec(nil, "grep", "Seccomp:", "/proc/self/status"); r.code != 0 || !strings.Contains(r.stdout, "2") {
		t.Errorf("want seccomp mode 2 (filter), got %s", r)
	}
	if r := b.exec(nil, "touch", "/tmp/y"); r.code != 0 {
		t.Errorf("other syscalls must work: %s", r)
	}
}

func TestExecTerminal(t *testing.T) {
	t.Parallel()
	b := runningBundle(t, nil)
	sock, got := consoleSocket(t)
	r := b.exec([]string{"--tty", "--detach", "--console-socket", sock}, "sh", "-c", "tty; echo ready; sleep 1000")
	if r.code != 0 {
		t.Fatalf("exec -t -d: %s", r)
	}
	rc := <-got
	if rc.err != nil {
		t.Fatalf("console socket: %v", rc.err)
	}
	defer rc.f.Close()
	out := readPty(t, rc.f, "ready")
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "ready") {
		t.Errorf("want the pty's name and ready on the terminal, got %q", out)
	}
	// A terminal needs somewhere to go when detached.
	if r := b.exec([]string{"-t", "-d"}, "true"); r.code == 0 || !strings.Contains(r.stderr, "console-socket") {
		t.Errorf("want -t -d without --console-socket refused, got %s", r)
	}
}

// TestExecContainerdForm runs exec exactly as containerd's shim calls runc.
func TestExecContainerdForm(t *testing.T) {
	t.Parallel()
	b := runningBundle(t, nil)
	dir := t.TempDir()
	p := *b.spec.Process
	p.Args = []string{"sh", "-c", "echo $FROM_JSON > /tmp/from-json; exec sleep 1000"}
	p.Env = append(p.Env, "FROM_JSON=yes")
	p.Cwd = "/tmp"
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	procFile, pidFile, logFile := filepath.Join(dir, "process.json"), filepath.Join(dir, "pid"), filepath.Join(dir, "log.json")
	writeFile(t, procFile, string(data))
	r := runXRT(t, runOpts{}, "--root", b.root, "--log", logFile, "--log-format", "json",
		"exec", "--process", procFile, "--detach", "--pid-file", pidFile, b.id)
	if r.code != 0 {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("exec: %s\nlog: %s", r, log)
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the process to write /tmp/from-json", func() bool {
		b, _ := os.ReadFile(b.rootfs("tmp/from-json"))
		return string(b) == "yes\n"
	})
	cmdline, _ := os.ReadFile("/proc/" + string(pid) + "/cmdline")
	if !strings.HasPrefix(string(cmdline), "sleep\x001000") {
		t.Errorf("pid file %s names %q, not the exec'd process", pid, cmdline)
	}
}

// TestExecRefused covers the states and inputs exec must refuse with a clear
// one-line error and nothing left behind: no process in the container or
// on its way into it, no state. The check is kept to the container, not
// the whole host, so that it holds while other containers come and go.
func TestExecRefused(t *testing.T) {
	b := runningBundle(t, nil)
	check := func(name string, b *bundle, flags []string, cmd ...string) {
		t.Run(name, func(t *testing.T) {
			before := execFootprint(t, b)
			r := b.exec(flags, cmd...)
			if r.code == 0 {
				t.Fatalf("want a failure, got %s", r)
			}
			msg := strings.TrimSpace(r.stderr)
			if msg == "" || strings.Contains(msg, "\n") {
				t.Errorf("want a one-line error on stderr, got %s", r)
			}
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(name)) {
				t.Errorf("want the error to mention %q, got %s", name, r)
			}
			waitFor(t, "no exec process left", func() bool { return execFootprint(t, b) == before })
		})
	}
	check("does not exist", &bundle{t: t, root: b.root, id: b.id + "-nope"}, nil, "true")
	check("command", b, nil)
	check("--user", b, []string{"-u", "bob"}, "true")
	check("/no/such/program", b, nil, "/no/such/program")
	check("cwd", b, []string{"--cwd", "/no/such/dir"}, "true")
	check("CAP_BOGUS", b, []string{"--cap", "CAP_BOGUS"}, "true")
	check("--process", b, []string{"--process", "/no/such/process.json"})
	check("terminal", b, []string{"--console-socket", "/no/such/sock"}, "true")

	// A paused container refuses exec unless told.
	if r := b.xrt("pause", b.id); r.code == 0 {
		check("paused", b, nil, "true")
		// With --ignore-paused the process starts frozen; exec returns
		// once the container is resumed and the process has exec'd.
		pidFile := filepath.Join(t.TempDir(), "pid")
		done := make(chan result, 1)
		go func() {
			r, err := execXRT(requireXRT(t), runOpts{}, "--root", b.root, "exec", "--ignore-paused", "-d", "--pid-file", pidFile, b.id, "sleep", "999")
			if err != nil {
				r.stderr += err.Error()
			}
			done <- r
		}()
		waitFor(t, "the exec'd process to join the frozen cgroup", func() bool {
			return strings.Contains(execFootprint(t, b), "exec child")
		})
		if r := b.xrt("resume", b.id); r.code != 0 {
			t.Fatalf("resume: %s", r)
		}
		if r := <-done; r.code != 0 {
			t.Errorf("exec --ignore-paused: %s", r)
		} else if pid, _ := os.ReadFile(pidFile); !alive(atoi(t, string(pid))) {
			t.Errorf("exec --ignore-paused: pid %q is not running", pid)
		}
	} else {
		t.Logf("pause is not available, paused case skipped: %s", r)
	}

	// A stopped container.
	stopped := newBundle(t, "true")
	if r := stopped.run("--keep"); r.code != 0 {
		t.Fatalf("run --keep: %s", r)
	}
	check("stopped", stopped, nil, "true")
}

// execFootprint describes what an exec could leave behind in b's
// container: the processes of its cgroup, the entries of its state
// directory, and the processes still starting as `xrt init` (an exec child
// before its own execve) under b's container.
func execFootprint(t *testing.T, b *bundle) string {
	t.Helper()
	var out strings.Builder
	fmt.Fprintf(&out, "state %q\n", dirNames(filepath.Join(b.root, b.id)))
	procs, _ := filepath.Glob("/sys/fs/cgroup/*/xrt/" + b.id + "/cgroup.procs")
	for _, f := range procs {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&out, "%s: %q\n", f, strings.Fields(string(data)))
	}
	for _, pid := range listPids(t) {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && string(cmdline) == "xrt\x00init\x00" && alive(pid) {
			env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if strings.Contains(string(env), "_XRT_EXEC=1") {
				fmt.Fprintf(&out, "exec child %d\n", pid)
			}
		}
	}
	return out.String()
}

// TestExecSeccompNotify: the exec'd process gets the container's notify
// filter too, and its listener fd reaches the agent with the metadata.
func TestExecSeccompNotify(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// One connection from the container's init, one from the exec.
	states := make(chan rspec.ContainerProcessState, 2)
	go func() {
		for range 2 {
			ln.SetDeadline(time.Now().Add(20 * time.Second))
			conn, err := ln.AcceptUnix()
			if err != nil {
				close(states)
				return
			}
			buf, oob := make([]byte, 8192), make([]byte, 256)
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			conn.Close()
			if err != nil {
				close(states)
				return
			}
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				fds, _ := unix.ParseUnixRights(&m)
				for _, fd := range fds {
					unix.Close(fd) // no agent: the notified syscall gets ENOSYS
				}
			}
			var st rspec.ContainerProcessState
			_ = json.Unmarshal(buf[:n], &st)
			states <- st
		}
	}()
	b := runningBundle(t, func(b *bundle) {
		b.spec.Process.NoNewPrivileges = true
		b.spec.Linux.Seccomp = denyMkdir(rspec.ActNotify, 0)
		b.spec.Linux.Seccomp.ListenerPath = sock
		b.spec.Linux.Seccomp.ListenerMetadata = "exec-test"
	})
	<-states // the container's init
	r := b.exec(nil, "sh", "-c", "mkdir /tmp/x 2>&1; echo done")
	st, ok := <-states
	if !ok {
		t.Fatal("the agent got no connection from the exec")
	}
	init := b.mustState(b.id).Pid
	if st.Metadata != "exec-test" || st.State.ID != b.id || st.State.Pid != init || st.Pid <= 0 || st.Pid == init ||
		st.State.Status != "running" || len(st.Fds) != 1 {
		t.Errorf("agent got state %+v", st)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "Function not implemented") || !strings.Contains(r.stdout, "done") {
		t.Errorf("want mkdir to fail with ENOSYS, got %s", r)
	}
}

// TestExecPreserveFds passes the caller's fd 3 to the process.
func TestExecPreserveFds(t *testing.T) {
	t.Parallel()
	b := runningBundle(t, nil)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := b.xrtWith(runOpts{extra: []*os.File{w}}, "exec", "--preserve-fds", "1", b.id, "sh", "-c", "echo through-fd-3 >&3")
	w.Close()
	if res.code != 0 {
		t.Fatalf("exec: %s", res)
	}
	got, _ := io.ReadAll(r)
	if string(got) != "through-fd-3\n" {
		t.Errorf("read %q from the pipe", got)
	}
	// Without the flag the fd is not passed.
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	res = b.xrtWith(runOpts{extra: []*os.File{w2}}, "exec", b.id, "sh", "-c", "echo leaked >&3")
	w2.Close()
	if res.code == 0 {
		t.Errorf("fd 3 reached the process without --preserve-fds: %s", res)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
