package container

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/cgroups"
	"github.com/xrt-dev/xrt/runtime/console"
	"github.com/xrt-dev/xrt/runtime/hooks"
	"github.com/xrt-dev/xrt/runtime/initproc"
	"github.com/xrt-dev/xrt/runtime/seccomp"
	"github.com/xrt-dev/xrt/specs"
)

// CreateOptions are the flags of `xrt create`.
type CreateOptions struct {
	Bundle        string
	ConsoleSocket string
	PidFile       string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFds   int
	// SystemdCgroup asks systemd for the cgroup (--systemd-cgroup).
	SystemdCgroup bool

	// foreground is set by Run: without a --console-socket, xrt itself
	// receives the pty master and proxies it.
	foreground bool
}

// started is what a foreground `xrt run` needs from create.
type started struct {
	master *os.File // the pty master, when there is no console socket
}

// Create builds the container and leaves its init waiting for `start`.
func Create(root, id string, o CreateOptions) (*Container, error) {
	c, _, err := create(root, id, o)
	return c, err
}

func create(root, id string, o CreateOptions) (_ *Container, st *started, err error) {
	if err := specs.ValidateID(id); err != nil {
		return nil, nil, err
	}
	if id == cacheDir {
		return nil, nil, fmt.Errorf("container id %q is reserved", id)
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	spec, err := specs.Load(bundle)
	if err != nil {
		return nil, nil, err
	}
	if err := specs.Validate(spec, bundle); err != nil {
		return nil, nil, err
	}
	if spec.Linux == nil {
		spec.Linux = &rspec.Linux{} // no namespaces: the host's
	}
	if err := cgroups.Validate(spec.Linux.Resources); err != nil {
		return nil, nil, err
	}
	// Compiling a profile takes libseccomp up to 25 ms: do it (or read it
	// from the cache) while the rest of the container is being made.
	filter := make(chan seccompResult, 1)
	go func() {
		f, err := seccomp.BuildCached(spec.Linux.Seccomp, filepath.Join(root, cacheDir, "seccomp"))
		var b []byte
		if err == nil && f != nil {
			b, err = f.MarshalBinary()
			f.Release()
		}
		filter <- seccompResult{b, err}
	}()
	rootfs := specs.RootfsPath(spec, bundle)
	plan, err := planNamespaces(spec.Linux)
	if err != nil {
		return nil, nil, err
	}
	if spec.Process.Terminal && o.ConsoleSocket == "" && !o.foreground {
		return nil, nil, errors.New("process.terminal is true: a --console-socket is required")
	}
	if !spec.Process.Terminal && o.ConsoleSocket != "" {
		return nil, nil, errors.New("--console-socket given but process.terminal is false")
	}

	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, nil, fmt.Errorf("state root %s: %w", root, err)
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil, fmt.Errorf("container %s %w", id, ErrExist)
		}
		return nil, nil, fmt.Errorf("container %s: %w", id, err)
	}
	c := &Container{dir: dir, State: State{ID: id, Bundle: bundle, Rootfs: rootfs,
		Annotations: spec.Annotations, Hooks: spec.Hooks, Owner: owner(),
		OwnPidNS: ownPidNamespace(spec)}, spec: spec}
	if err := c.Lock(); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	defer c.Unlock()

	child := 0 // the pid we started, once started: abort kills and reaps it
	defer func() {
		if err != nil {
			err = c.oomHint(err)
			c.abort(child)
		}
	}()

	fifo := filepath.Join(dir, fifoFile)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, nil, fmt.Errorf("exec fifo: %w", err)
	}
	// O_RDWR never blocks on a fifo; init keeps this fd and reads from it.
	fifoFd, err := unix.Open(fifo, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("exec fifo: %w", err)
	}
	fifoFile := os.NewFile(uintptr(fifoFd), fifo)
	defer fifoFile.Close()

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	parentSock, childSock := os.NewFile(uintptr(pair[0]), "sync"), os.NewFile(uintptr(pair[1]), "sync")
	defer parentSock.Close()
	defer childSock.Close()

	// Init's fds: 3.. the preserved ones, then sync, fifo, console.
	var files []*os.File
	for fd := 3; fd < 3+o.PreserveFds; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, nil, fmt.Errorf("--preserve-fds %d: fd %d is not open", o.PreserveFds, fd)
		}
		files = append(files, os.NewFile(uintptr(fd), "preserved"))
	}
	cfg := &initproc.Config{ID: id, Bundle: bundle, Rootfs: rootfs, Spec: initSpec(spec),
		NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, PreserveFds: o.PreserveFds,
		NewCgroupNS: plan.newCgroupNS}
	syncFd := 3 + len(files)
	files = append(files, childSock)
	cfg.FifoFd = 3 + len(files)
	files = append(files, fifoFile)
	var ownConsole *os.File // our end when we receive the master ourselves
	if spec.Process.Terminal {
		var sock *os.File
		if o.ConsoleSocket != "" {
			if sock, err = console.Dial(o.ConsoleSocket); err != nil {
				return nil, nil, fmt.Errorf("--console-socket %s: %w", o.ConsoleSocket, err)
			}
		} else {
			pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return nil, nil, err
			}
			ownConsole, sock = os.NewFile(uintptr(pair[0]), "console"), os.NewFile(uintptr(pair[1]), "console")
			defer ownConsole.Close()
		}
		defer sock.Close()
		cfg.ConsoleFd = 3 + len(files)
		files = append(files, sock)
	}

	// The cgroup, with its limits, exists before init does: init is cloned
	// into it (v2) and moves its own thread in (v1) instead of being moved
	// by us, which would cost a kernel RCU grace period (see Placement).
	// Where init cannot (a user namespace, or nsenter's fork), we move it.
	cg, err := c.makeCgroup(o.SystemdCgroup)
	if err != nil {
		return nil, nil, err
	}
	// With nowhere to go (the systemd driver starts its unit with init's
	// pid), init is handed to AddProc.
	cloneDir, tasks := cg.Placement()
	selfPlaced := !plan.joinMode && !plan.newUser && (cloneDir != "" || len(tasks) > 0)
	proc, exe, err := initCmd(plan, spec.Linux, files, syncFd)
	if err != nil {
		return nil, nil, err
	}
	if selfPlaced {
		cfg.CgroupTasks = tasks
		if cloneDir != "" {
			dir, err := os.Open(cloneDir)
			if err != nil {
				return nil, nil, fmt.Errorf("cgroup %s: %w", cloneDir, err)
			}
			defer dir.Close()
			proc.attr.Sys.UseCgroupFD = true
			proc.attr.Sys.CgroupFD = int(dir.Fd())
		}
	}
	pid, err := proc.start()
	exe.Close()
	childSock.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("start init: %w", err)
	}
	child = pid
	conn := initproc.NewConn(parentSock)
	c.Pid = pid
	if plan.joinMode {
		if c.Pid, err = c.joinHandshake(conn, pid); err != nil {
			return nil, nil, err
		}
	}
	if c.PidStartTime, _, err = procStat(c.Pid); err != nil {
		return nil, nil, fmt.Errorf("init exited early: %w", err)
	}
	cfg.Pid = c.Pid
	sc := <-filter
	if sc.err != nil {
		return nil, nil, sc.err
	}
	cfg.Seccomp = sc.filter
	if err := conn.Send(initproc.Message{Kind: initproc.KindConfig, Config: cfg}); err != nil {
		return nil, nil, fmt.Errorf("send config to init: %w", err)
	}
	// Init waits for "placed" before it does anything but decode.
	if !selfPlaced {
		if err := cg.AddProc(c.Pid); err != nil {
			return nil, nil, err
		}
	}
	if adj := spec.Process.OOMScoreAdj; adj != nil {
		path := "/proc/" + strconv.Itoa(c.Pid) + "/oom_score_adj"
		if err := os.WriteFile(path, []byte(strconv.Itoa(*adj)), 0); err != nil {
			return nil, nil, fmt.Errorf("process.oomScoreAdj %d: %w", *adj, err)
		}
	}
	if err := conn.Send(initproc.Message{Kind: initproc.KindPlaced}); err != nil {
		return nil, nil, fmt.Errorf("init: %w", err)
	}
	if err := c.waitCreated(conn); err != nil {
		return nil, nil, err
	}
	st = &started{}
	if ownConsole != nil {
		// Init sent the master before it reported created: it is waiting in the socket.
		if st.master, err = console.RecvFd(ownConsole); err != nil {
			return nil, nil, fmt.Errorf("receive the pty master: %w", err)
		}
	}

	c.Created = time.Now().UTC()
	if err := c.save(); err != nil {
		return nil, nil, err
	}
	slog.Debug("created", "id", id, "pid", c.Pid, "cgroup", c.CgroupPath, "seccomp", len(cfg.Seccomp) > 0)
	if o.PidFile != "" {
		pidFile, _ := filepath.Abs(o.PidFile)
		if err := writeFileAtomic(pidFile, []byte(strconv.Itoa(c.Pid)), 0o644); err != nil {
			return nil, nil, fmt.Errorf("--pid-file %s: %w", o.PidFile, err)
		}
	}
	return c, st, nil
}

// initSpec is the part of spec that init uses. Init decodes it on a cold
// process, on the critical path, and each object costs: the cgroup limits
// are ours to apply, and init loads the filter we compile (a Docker-like
// profile is some 400 syscall names), needing only where its agent listens.
func initSpec(spec *rspec.Spec) *rspec.Spec {
	s := *spec
	l := *spec.Linux
	l.Resources = nil
	if sc := l.Seccomp; sc != nil {
		l.Seccomp = nil
		if sc.ListenerPath != "" {
			l.Seccomp = &rspec.LinuxSeccomp{ListenerPath: sc.ListenerPath, ListenerMetadata: sc.ListenerMetadata}
		}
	}
	s.Linux = &l
	return &s
}

type seccompResult struct {
	filter []byte
	err    error
}

// makeCgroup creates the container's cgroup with its resources, before
// any process is in it.
func (c *Container) makeCgroup(systemd bool) (cgroups.Manager, error) {
	var path string
	if c.spec.Linux != nil {
		path = c.spec.Linux.CgroupsPath
	}
	newManager := cgroups.New
	if systemd {
		newManager = cgroups.NewSystemd
	}
	m, err := newManager(path, c.ID) // its errors name linux.cgroupsPath
	if err != nil {
		return nil, err
	}
	if err := m.Create(); err != nil {
		return nil, err
	}
	c.CgroupPath = m.Path() // from now on, abort removes it
	var res rspec.LinuxResources
	if r := c.spec.Linux.Resources; r != nil {
		res = *r
	}
	res.Devices = cgroups.DeviceRules(c.spec.Linux)
	return m, m.Set(&res)
}

// joinHandshake serves the C half of init (package nsenter): the maps of a
// new user namespace, then the pid of init, which differs from the process
// we started when nsenter had to fork into a pid or time namespace.
func (c *Container) joinHandshake(conn *initproc.Conn, child int) (int, error) {
	for {
		m, err := conn.Recv()
		if err != nil {
			return 0, fmt.Errorf("join namespaces: %w", err)
		}
		switch m.Kind {
		case initproc.KindUserMap:
			if err := writeIDMaps(child, c.spec.Linux); err != nil {
				return 0, err
			}
			if err := conn.Send(initproc.Message{Kind: initproc.KindUserMapDone}); err != nil {
				return 0, err
			}
		case initproc.KindPid:
			if m.Pid != child {
				reapChild(child) // the intermediate process exits at once
			}
			return m.Pid, nil
		default:
			return 0, fmt.Errorf("join namespaces: unexpected %q", m.Kind)
		}
	}
}

// waitCreated serves init until it reports that it waits for start,
// running the hooks that belong to the runtime's namespace on its request.
func (c *Container) waitCreated(conn *initproc.Conn) error {
	for {
		m, err := conn.Recv()
		if err != nil {
			return err
		}
		switch m.Kind {
		case initproc.KindCreated:
			return nil
		case initproc.KindRunHooks:
			h := c.Hooks
			// Prestart hooks see "created", as the validation suite (and
			// the spec before createRuntime existed) expects.
			if err := hooks.Run("prestart", h.Prestart, c.hookState(rspec.StateCreated)); err != nil { //nolint:staticcheck // deprecated, still honoured
				return err
			}
			if err := hooks.Run("createRuntime", h.CreateRuntime, c.hookState(rspec.StateCreating)); err != nil {
				return err
			}
			if err := conn.Send(initproc.Message{Kind: initproc.KindHooksDone}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("init: unexpected %q", m.Kind)
		}
	}
}

// abort undoes a failed create: init is killed and reaped, poststop hooks run
// (the spec's "continue at delete" after a failing hook) and the state goes.
// started is the pid create started (0 if none).
func (c *Container) abort(started int) {
	if started != 0 {
		if c.Pid != 0 && c.Pid != started {
			_ = unix.Kill(c.Pid, unix.SIGKILL)
		}
		_ = unix.Kill(started, unix.SIGKILL)
		reapChild(started)
		if c.Pid != 0 && c.Pid != started {
			_ = c.waitExit(5 * time.Second)
		}
	}
	if c.CgroupPath != "" {
		if m, err := cgroups.Load(c.CgroupPath); err == nil {
			if err := m.Delete(); err != nil {
				slog.Warn(err.Error())
			}
		}
	}
	if c.Hooks != nil && c.Pid != 0 {
		if err := hooks.RunAll("poststop", c.Hooks.Poststop, c.hookState(rspec.StateStopped)); err != nil {
			slog.Warn(err.Error())
		}
	}
	os.RemoveAll(c.dir)
}

func owner() string {
	uid := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}
