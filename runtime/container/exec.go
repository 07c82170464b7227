package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/caps"
	"github.com/xrt-dev/xrt/runtime/cgroups"
	"github.com/xrt-dev/xrt/runtime/console"
	"github.com/xrt-dev/xrt/runtime/initproc"
	"github.com/xrt-dev/xrt/runtime/lsm"
	"github.com/xrt-dev/xrt/runtime/process"
	"github.com/xrt-dev/xrt/runtime/seccomp"
	"github.com/xrt-dev/xrt/specs"
)

// ExecOptions are the flags of `xrt exec`. Process, from --process, is the
// whole process and the flags that change a process are then ignored, as
// with runc; otherwise the process is config.json's with Args and the
// flags applied (see ExecProcess).
type ExecOptions struct {
	Process *rspec.Process
	Args    []string

	Env            []string // NAME=VALUE, replacing the same name
	Cwd            string
	User           string // uid[:gid]
	AdditionalGids []int64
	Caps           []string
	NoNewPrivs     *bool // nil: as config.json says
	AppArmor       string
	ProcessLabel   string
	Tty            bool

	ConsoleSocket string
	PidFile       string
	Detach        bool
	IgnorePaused  bool
	PreserveFds   int
}

// nsKinds are the namespaces an exec may join, by their /proc/PID/ns names;
// the C constructor joins them in its own order (user first, mount last).
var nsKinds = []string{"user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt"}

// Exec starts a new process in the running container c. Detached, it
// returns once the process has exec'd its program (0). In the foreground it
// forwards signals (and proxies the pty when there is a terminal but no
// --console-socket) and returns the process's exit code, 128+signal when a
// signal killed it. An error means no process was left behind.
func (c *Container) Exec(o ExecOptions) (int, error) {
	switch st := c.Status(); st {
	case rspec.StateCreated, rspec.StateRunning:
	case StatePaused:
		if !o.IgnorePaused {
			return 1, fmt.Errorf("cannot exec in paused container %s (use --ignore-paused to override): %w", c.ID, ErrState)
		}
	default:
		return 1, fmt.Errorf("cannot exec in container %s: it is %s: %w", c.ID, st, ErrState)
	}
	terminal := o.Tty
	if o.Process != nil {
		terminal = o.Process.Terminal
	}
	if terminal && o.ConsoleSocket == "" && o.Detach {
		return 1, errors.New("cannot allocate a terminal for a detached exec without --console-socket")
	}
	if !terminal && o.ConsoleSocket != "" {
		return 1, errors.New("--console-socket given but the process has no terminal (use -t)")
	}
	// Reading config.json and the seccomp filter (1-2 ms in a fresh
	// process) overlaps the start of the child, which takes longer and
	// needs neither until it has joined the container.
	prep := make(chan prepared, 1)
	go func() { prep <- c.prepareExec(o) }()

	var sigs chan os.Signal
	notified := make(chan struct{})
	if !o.Detach {
		// Installing the handlers costs about a millisecond: in parallel
		// too. supervise waits for it, or a SIGCHLD could be missed.
		// No signal.Stop at the end: it waits for the signal loop to go
		// idle (up to a millisecond), and the caller exits right after;
		// signals that come later find the buffer full and are dropped.
		sigs = make(chan os.Signal, 64)
		go func() { signal.Notify(sigs); close(notified) }()
	}
	e := &execution{c: c, o: o, terminal: terminal}
	defer e.close()
	if err := e.start(prep); err != nil {
		e.abort()
		return 1, err
	}
	slog.Debug("exec", "id", c.ID, "pid", e.pid, "args", e.cfg.Process.Args)
	if o.PidFile != "" {
		pidFile, _ := filepath.Abs(o.PidFile)
		if err := writeFileAtomic(pidFile, []byte(strconv.Itoa(e.pid)), 0o644); err != nil {
			e.abort()
			return 1, fmt.Errorf("--pid-file %s: %w", o.PidFile, err)
		}
	}
	if o.Detach {
		return 0, nil
	}
	var proxy *console.Proxy
	if e.master != nil {
		var err error
		if proxy, err = console.StartProxy(e.master); err != nil {
			e.abort()
			return 1, err
		}
		defer proxy.Close()
	}
	<-notified
	return supervise(e.pid, sigs, proxy), nil
}

// prepared is what the child gets from config.json, and the seccomp agent
// to connect to, if any.
type prepared struct {
	cfg      *initproc.ExecConfig
	listener string
	err      error
}

// execSpec is the part of config.json an exec needs. Decoding only this
// much saves a millisecond in a fresh process: encoding/json builds a
// codec for every type the target can reach, and rspec.Spec reaches many.
type execSpec struct {
	Process     *rspec.Process    `json:"process"`
	Annotations map[string]string `json:"annotations"`
	Linux       *struct {
		Seccomp *rspec.LinuxSeccomp `json:"seccomp"`
	} `json:"linux"`
}

// prepareExec reads config.json and builds the process and its seccomp
// filter (from the cache of compiled filters under the root).
func (c *Container) prepareExec(o ExecOptions) prepared {
	path := filepath.Join(c.Bundle, specs.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return prepared{err: fmt.Errorf("container %s: %w", c.ID, err)}
	}
	var spec execSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return prepared{err: fmt.Errorf("%s: %w", path, err)}
	}
	p, err := ExecProcess(spec.Process, o)
	if err != nil {
		return prepared{err: err}
	}
	var sc *rspec.LinuxSeccomp
	if spec.Linux != nil {
		sc = spec.Linux.Seccomp
	}
	filter, err := seccomp.BuildCached(sc, filepath.Join(filepath.Dir(c.dir), cacheDir, "seccomp"))
	if err != nil {
		return prepared{err: err}
	}
	var bpf []byte
	if filter != nil {
		bpf, err = filter.MarshalBinary()
		filter.Release()
		if err != nil {
			return prepared{err: err}
		}
	}
	r := prepared{cfg: &initproc.ExecConfig{ID: c.ID, Bundle: c.Bundle, Rootfs: c.Rootfs,
		Process: p, Annotations: spec.Annotations, Seccomp: bpf, PreserveFds: o.PreserveFds}}
	if sc != nil && sc.ListenerPath != "" && len(bpf) > 0 {
		r.listener = sc.ListenerPath
		r.cfg.ListenerMetadata = sc.ListenerMetadata
	}
	return r
}

// execution is one `xrt exec` on its way to a running process.
type execution struct {
	c        *Container
	o        ExecOptions
	terminal bool
	cfg      *initproc.ExecConfig

	files  []*os.File      // passed to the child as fds 3, 4, ...; ours are closed after start
	owned  int             // files[owned:] are ours to close
	child  int             // the process started, until reaped
	pid    int             // the process that execs the program (child)
	pidNS  *os.File        // the container's pid namespace, until spawn
	move   cgroups.Manager // the cgroup to move the child into, when Placement cannot say
	master *os.File        // the pty master, when we proxy it
}

// add passes f to the child and returns its fd number there.
func (e *execution) add(f *os.File) int {
	e.files = append(e.files, f)
	return 2 + len(e.files)
}

func (e *execution) close() {
	for _, f := range e.files[e.owned:] {
		f.Close()
	}
	e.files = e.files[:e.owned]
}

// start starts the child and serves it until it has exec'd the program:
// the sync socket is close-on-exec in the child, so its end of file is
// the sign that the program runs, and an error message the sign it won't.
func (e *execution) start(prep <-chan prepared) error {
	for fd := 3; fd < 3+e.o.PreserveFds; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return fmt.Errorf("--preserve-fds %d: fd %d is not open", e.o.PreserveFds, fd)
		}
		e.files = append(e.files, os.NewFile(uintptr(fd), "preserved"))
	}
	e.owned = len(e.files)

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	parentSock, childSock := os.NewFile(uintptr(pair[0]), "sync"), os.NewFile(uintptr(pair[1]), "sync")
	defer parentSock.Close()
	syncFd := e.add(childSock)

	// The namespaces are opened here, checked against init's start time
	// afterwards, and joined by the child through /proc/self/fd: a pid
	// reused since cannot lead the process into someone else's namespaces.
	nsenter, chroot, err := e.openNamespaces()
	if err != nil {
		return err
	}
	if !e.c.alive() {
		return fmt.Errorf("cannot exec in container %s: its init has exited: %w", e.c.ID, ErrState)
	}
	cloneDir, tasks, err := e.openCgroup()
	if err != nil {
		return err
	}
	// The seccomp agent, if config.json names one, is only known later:
	// its connection goes to the child over this socket (see AgentFd).
	pair, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	agentSock := os.NewFile(uintptr(pair[0]), "agent")
	defer agentSock.Close()
	agentFd := e.add(os.NewFile(uintptr(pair[1]), "agent"))
	var consoleFd int
	var ownConsole *os.File
	if e.terminal {
		var sock *os.File
		if e.o.ConsoleSocket != "" {
			if sock, err = console.Dial(e.o.ConsoleSocket); err != nil {
				return fmt.Errorf("--console-socket %s: %w", e.o.ConsoleSocket, err)
			}
		} else {
			pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			ownConsole, sock = os.NewFile(uintptr(pair[0]), "console"), os.NewFile(uintptr(pair[1]), "console")
			defer ownConsole.Close()
		}
		consoleFd = e.add(sock)
	}

	exe, err := selfExe()
	if err != nil {
		return err
	}
	exeFd := e.add(exe)
	words := append([]string{"fd=" + strconv.Itoa(syncFd)}, nsenter...)
	attr := &syscall.ProcAttr{
		// One P and no GOMAXPROCS tracking start the Go runtime sooner.
		Env: []string{initproc.EnvSyncFd + "=" + strconv.Itoa(syncFd), initproc.EnvExec + "=1",
			"GOMAXPROCS=1", "GODEBUG=updatemaxprocs=0",
			"_XRT_NSENTER=" + strings.Join(words, " ")},
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{},
	}
	for _, f := range e.files {
		attr.Files = append(attr.Files, f.Fd())
	}
	if cloneDir != "" {
		dir, err := os.Open(cloneDir)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", cloneDir, err)
		}
		defer dir.Close()
		attr.Sys.UseCgroupFD = true
		attr.Sys.CgroupFD = int(dir.Fd())
	}
	e.child, err = e.spawn("/proc/self/fd/"+strconv.Itoa(exeFd), attr)
	e.close() // the child has its copies now
	if err != nil {
		e.child = 0
		return fmt.Errorf("start the exec process: %w", err)
	}
	conn := initproc.NewConn(parentSock)
	// nsenter reports when it has joined the namespaces. The pid it sends
	// is its own as seen in its pid namespace: the host's is e.child.
	m, err := conn.RecvReply()
	if err != nil {
		return fmt.Errorf("join the container's namespaces: %w", err)
	}
	if m.Kind != initproc.KindPid {
		return fmt.Errorf("join the container's namespaces: unexpected %q", m.Kind)
	}
	e.pid = e.child
	if e.move != nil {
		if err := e.move.AddProc(e.pid); err != nil {
			return fmt.Errorf("container %s: %w", e.c.ID, err)
		}
	}
	r := <-prep
	if r.err != nil {
		return r.err
	}
	e.cfg = r.cfg
	e.cfg.Pid, e.cfg.InitPid = e.pid, e.c.Pid
	e.cfg.ConsoleFd = consoleFd
	e.cfg.CgroupFds = tasks
	e.cfg.Chroot = chroot
	if r.listener != "" {
		agent, err := seccomp.DialListener(r.listener)
		if err != nil {
			return err
		}
		err = console.SendFd(agentSock, "", agent)
		agent.Close()
		if err != nil {
			return fmt.Errorf("pass the seccomp agent's connection: %w", err)
		}
		e.cfg.AgentFd = agentFd
	}
	agentSock.Close()
	if err := process.SetOOMScoreAdj(e.pid, e.cfg.Process.OOMScoreAdj); err != nil {
		return err
	}
	if err := conn.SendExec(e.cfg); err != nil {
		return fmt.Errorf("send the process to the exec child: %w", err)
	}
	if ownConsole != nil {
		// The child sends the master before it execs, or fails: then the
		// socket is closed and the reason is on the sync socket.
		e.master, err = console.RecvFd(ownConsole)
		if err != nil {
			if _, serr := conn.RecvReply(); serr != nil && !errors.Is(serr, io.ErrUnexpectedEOF) {
				return serr
			}
			return fmt.Errorf("receive the pty master: %w", err)
		}
	}
	m, err = conn.RecvReply()
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil // closed by the execve
	case err != nil:
		return err
	default:
		return fmt.Errorf("exec child: unexpected %q", m.Kind)
	}
}

// openNamespaces opens every namespace of init that differs from ours and
// returns the nsenter words that join them. chroot is true when the
// container shares our mount namespace (see initproc.ExecConfig.Chroot).
func (e *execution) openNamespaces() (words []string, chroot bool, err error) {
	dir := "/proc/" + strconv.Itoa(e.c.Pid) + "/ns/"
	joinMnt := false
	defer func() {
		if err != nil && e.pidNS != nil {
			e.pidNS.Close()
			e.pidNS = nil
		}
	}()
	for _, kind := range nsKinds {
		var theirs, ours unix.Stat_t
		if err := unix.Stat(dir+kind, &theirs); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // a namespace type this kernel lacks
			}
			return nil, false, fmt.Errorf("container %s: namespace %s: %w", e.c.ID, kind, err)
		}
		if err := unix.Stat("/proc/self/ns/"+kind, &ours); err == nil && ours.Ino == theirs.Ino && ours.Dev == theirs.Dev {
			continue
		}
		f, err := os.Open(dir + kind)
		if err != nil {
			return nil, false, fmt.Errorf("container %s: namespace %s: %w", e.c.ID, kind, err)
		}
		if kind == "pid" {
			// Joined by the thread that starts the child (see spawn), which
			// saves nsenter a fork.
			e.pidNS = f
			continue
		}
		words = append(words, kind+"=/proc/self/fd/"+strconv.Itoa(e.add(f)))
		if kind == "mnt" {
			joinMnt = true
		}
	}
	return words, !joinMnt, nil
}

// openCgroup opens the container's v1 tasks files for the child (their
// fds there), and returns the v2 directory to clone it into, if any.
func (e *execution) openCgroup() (cloneDir string, fds []int, err error) {
	if e.c.CgroupPath == "" {
		return "", nil, nil
	}
	m, err := cgroups.Load(e.c.CgroupPath)
	if err != nil {
		return "", nil, fmt.Errorf("container %s: cgroup %s: %w", e.c.ID, e.c.CgroupPath, err)
	}
	cloneDir, tasks := m.Placement()
	if cloneDir == "" && len(tasks) == 0 {
		// A driver that cannot say (systemd's): the child is moved as a
		// whole once started, before it gets its process (see start).
		e.move = m
		return "", nil, nil
	}
	for _, t := range tasks {
		f, err := os.OpenFile(t, os.O_WRONLY, 0)
		if err != nil {
			return "", nil, fmt.Errorf("container %s: cgroup: %w", e.c.ID, err)
		}
		fds = append(fds, e.add(f))
	}
	return cloneDir, fds, nil
}

// spawn starts the child. Its pid namespace is set here rather than by
// nsenter: a thread that joins a pid namespace gives it to the children it
// starts from then on, and the child, born in it, needs no fork (nsenter
// forks only for a pid namespace it joins itself). Go cannot hand that
// thread back: the goroutine ends locked to it, and the runtime retires it.
// syscall rather than os/exec: os probes pidfd support with a vfork of its
// own the first time, a millisecond on a VM, and nothing here needs an
// os.Process.
func (e *execution) spawn(path string, attr *syscall.ProcAttr) (int, error) {
	if e.pidNS == nil {
		pid, _, err := syscall.StartProcess(path, []string{"xrt", "init"}, attr)
		return pid, err
	}
	type started struct {
		pid int
		err error
	}
	done := make(chan started, 1)
	go func() {
		runtime.LockOSThread() // for good: see above
		if err := unix.Setns(int(e.pidNS.Fd()), unix.CLONE_NEWPID); err != nil {
			done <- started{err: fmt.Errorf("join the pid namespace of container %s: %w", e.c.ID, err)}
			return
		}
		pid, _, err := syscall.StartProcess(path, []string{"xrt", "init"}, attr)
		done <- started{pid, err}
	}()
	r := <-done
	e.pidNS.Close()
	e.pidNS = nil
	return r.pid, r.err
}

// abort kills and reaps whatever start left running.
func (e *execution) abort() {
	if e.master != nil {
		e.master.Close()
	}
	if e.pidNS != nil {
		e.pidNS.Close()
	}
	if e.child != 0 {
		_ = unix.Kill(e.child, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(e.child, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		e.child = 0
	}
}

// ExecProcess is the process `xrt exec` starts: o.Process when given,
// otherwise a copy of base (config.json's process) with o's arguments and
// flags applied as runc applies them. The result is validated.
func ExecProcess(base *rspec.Process, o ExecOptions) (*rspec.Process, error) {
	var p rspec.Process
	if o.Process != nil {
		p = *o.Process
	} else {
		if base == nil {
			return nil, errors.New("config.json has no process to start from")
		}
		if len(o.Args) == 0 {
			return nil, errors.New("exec: no command given (args or --process)")
		}
		p = *base
		p.Args = o.Args
		p.Terminal = o.Tty
		p.ConsoleSize = nil
		p.Env = mergeEnv(base.Env, o.Env)
		if o.Cwd != "" {
			p.Cwd = o.Cwd
		}
		if o.User != "" {
			uid, gid, err := parseUser(o.User)
			if err != nil {
				return nil, err
			}
			p.User.UID = uid
			if gid != nil {
				p.User.GID = *gid
			}
		}
		p.User.AdditionalGids = append([]uint32(nil), base.User.AdditionalGids...)
		for _, g := range o.AdditionalGids {
			if g < 0 || g > 1<<32-2 {
				return nil, fmt.Errorf("--additional-gids %d: not a valid group id", g)
			}
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
		}
		if len(o.Caps) > 0 {
			p.Capabilities = addCaps(base.Capabilities, o.Caps)
		}
		if o.NoNewPrivs != nil {
			p.NoNewPrivileges = *o.NoNewPrivs
		}
		if o.AppArmor != "" {
			p.ApparmorProfile = o.AppArmor
		}
		if o.ProcessLabel != "" {
			p.SelinuxLabel = o.ProcessLabel
		}
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if err := specs.ValidateProcess(&p); err != nil {
		return nil, err
	}
	if err := lsm.Check(&p); err != nil {
		return nil, err
	}
	if _, err := caps.Parse(p.Capabilities); err != nil {
		return nil, err
	}
	return &p, nil
}

// mergeEnv returns base with each NAME=VALUE of extra replacing the same
// NAME, or appended: a C library's getenv returns the first match, so
// appending alone would not override.
func mergeEnv(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		name, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if n, _, _ := strings.Cut(old, "="); n == name {
				out[i] = kv
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// parseUser reads -u uid[:gid] (numbers only, as runc).
func parseUser(s string) (uint32, *uint32, error) {
	us, gs, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil || uid == 1<<32-1 {
		return 0, nil, fmt.Errorf("--user %q: uid must be a number", s)
	}
	if !hasGid {
		return uint32(uid), nil, nil
	}
	gid, err := strconv.ParseUint(gs, 10, 32)
	if err != nil || gid == 1<<32-1 {
		return 0, nil, fmt.Errorf("--user %q: gid must be a number", s)
	}
	g := uint32(gid)
	return uint32(uid), &g, nil
}

// addCaps adds names to the bounding, effective and permitted sets, as
// runc's --cap does; to the ambient set too where the inheritable set
// already holds them (ambient needs inheritable).
func addCaps(base *rspec.LinuxCapabilities, names []string) *rspec.LinuxCapabilities {
	c := &rspec.LinuxCapabilities{}
	if base != nil {
		c.Bounding = append([]string(nil), base.Bounding...)
		c.Effective = append([]string(nil), base.Effective...)
		c.Permitted = append([]string(nil), base.Permitted...)
		c.Inheritable = append([]string(nil), base.Inheritable...)
		c.Ambient = append([]string(nil), base.Ambient...)
	}
	add := func(set []string, n string) []string {
		for _, have := range set {
			if have == n {
				return set
			}
		}
		return append(set, n)
	}
	for _, n := range names {
		n = strings.ToUpper(n)
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		c.Bounding = add(c.Bounding, n)
		c.Effective = add(c.Effective, n)
		c.Permitted = add(c.Permitted, n)
		for _, i := range c.Inheritable {
			if i == n {
				c.Ambient = add(c.Ambient, n)
				break
			}
		}
	}
	return c
}
