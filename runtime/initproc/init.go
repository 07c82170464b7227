// Package initproc is the container's init: the process that the runtime
// starts inside the new namespaces, which builds the root filesystem, waits
// for `start`, confines itself and finally execs the user's program.
//
// It runs as `xrt init` with the main goroutine locked to the main thread
// (see cmd/xrt): capabilities, namespaces of the calling thread and LSM exec
// labels are per thread, so all of it happens on the thread that calls execve.
package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/caps"
	"github.com/xrt-dev/xrt/runtime/console"
	"github.com/xrt-dev/xrt/runtime/hooks"
	"github.com/xrt-dev/xrt/runtime/lsm"
	"github.com/xrt-dev/xrt/runtime/process"
	"github.com/xrt-dev/xrt/runtime/rootfs"
	"github.com/xrt-dev/xrt/runtime/seccomp"
	"github.com/xrt-dev/xrt/specs"
)

// EnvSyncFd names the fd of init's end of the socket to the parent.
const EnvSyncFd = "_XRT_SYNC_FD"

// Main runs init and never returns.
func Main() {
	fd, err := strconv.Atoi(os.Getenv(EnvSyncFd))
	if err != nil {
		fmt.Fprintln(os.Stderr, "xrt init: must be started by xrt")
		os.Exit(1)
	}
	sock := os.NewFile(uintptr(fd), "sync")
	conn := NewConn(sock)
	if os.Getenv(EnvExec) == "1" {
		err = runExec(conn)
	} else {
		err = run(conn, sock)
	}
	// run returns only on failure: report it to the parent if it still
	// listens, else (after `created`) on the container's stderr.
	if conn.Send(Message{Kind: KindError, Error: err.Error()}) != nil {
		fmt.Fprintln(os.Stderr, "xrt init:", err)
	}
	os.Exit(1)
}

func run(conn *Conn, sock *os.File) error {
	m, err := conn.Expect(KindConfig)
	if err != nil {
		return err
	}
	cfg := m.Config
	spec := cfg.Spec
	if spec.Process == nil {
		return errors.New("config.json: process: missing")
	}
	// The config comes first so that decoding it overlaps the parent's
	// cgroup work; nothing may happen here before we are in the cgroup.
	if _, err := conn.Expect(KindPlaced); err != nil {
		return err
	}
	if err := enterCgroup(cfg.CgroupTasks); err != nil {
		return err
	}

	// Our fds (sync, fifo, console, the runtime binary) must reach neither
	// hooks nor the user's program; the preserved ones, from 3 up, stay.
	if err := process.CloseExtraFDs(3 + cfg.PreserveFds); err != nil {
		return err
	}
	if cfg.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	if !cfg.NoNewKeyring {
		// A session keyring of its own, so the container cannot read the
		// host's keys. Kernels or seccomp profiles may forbid keyctl: carry on.
		_, _ = unix.KeyctlJoinSessionKeyring("xrt-" + cfg.ID)
	}

	// The seccomp agent's socket is a host path: connect while it is
	// reachable, send the notify fd once the filter is loaded.
	var agent *os.File
	if sc := spec.Linux.Seccomp; sc != nil && sc.ListenerPath != "" && len(cfg.Seccomp) > 0 {
		if agent, err = seccomp.DialListener(sc.ListenerPath); err != nil {
			return err
		}
		defer agent.Close()
	}
	ropts := rootfs.Options{Spec: spec, Rootfs: cfg.Rootfs, Bundle: cfg.Bundle, NoPivot: cfg.NoPivot}
	_, ownMounts := specs.Namespace(spec, rspec.MountNamespace)
	if ownMounts {
		if err := rootfs.Prepare(ropts); err != nil {
			return err
		}
	}
	if spec.Hooks != nil && (len(spec.Hooks.Prestart) > 0 || len(spec.Hooks.CreateRuntime) > 0) { //nolint:staticcheck // prestart is deprecated but still honoured
		if err := conn.Send(Message{Kind: KindRunHooks}); err != nil {
			return err
		}
		if _, err := conn.Expect(KindHooksDone); err != nil {
			return err
		}
	}
	state := &rspec.State{Version: rspec.Version, ID: cfg.ID, Status: rspec.StateCreating,
		Pid: cfg.Pid, Bundle: cfg.Bundle, Annotations: spec.Annotations}
	if spec.Hooks != nil && len(spec.Hooks.CreateContainer) > 0 {
		ropts.BeforePivot = func() error { return hooks.Run("createContainer", spec.Hooks.CreateContainer, state) }
	}
	if ownMounts {
		if err := rootfs.Pivot(ropts); err != nil {
			return err
		}
	} else if err := chrootOnly(ropts); err != nil {
		return err
	}
	// The pty comes from the container's devpts, and /dev/console is
	// bound to it before Finish may make the root read-only.
	if spec.Process.Terminal {
		if err := setupTerminal(cfg, true); err != nil {
			return err
		}
	}
	// Sysctls before Finish: readonlyPaths usually include /proc/sys.
	if err := setNames(spec); err != nil {
		return err
	}
	if err := writeSysctls(spec.Linux); err != nil {
		return err
	}
	if ownMounts {
		if err := rootfs.Finish(ropts); err != nil {
			return err
		}
	}
	// A missing cwd or program is a create error, as with runc, not a
	// surprise at start.
	if err := process.CheckCwd(spec.Process.Cwd); err != nil {
		return err
	}
	path, err := process.LookupEnvPath(spec.Process.Env, spec.Process.Args[0])
	if err != nil {
		return err
	}
	set, err := caps.Parse(spec.Process.Capabilities)
	if err != nil {
		return err
	}
	if err := set.Check(); err != nil {
		return err
	}
	if err := conn.Send(Message{Kind: KindCreated}); err != nil {
		return err
	}
	sock.Close()

	if cfg.FifoFd > 0 {
		if err := waitForStart(cfg.FifoFd); err != nil {
			return err
		}
	}
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		state.Status = rspec.StateCreated
		if err := hooks.Run("startContainer", spec.Hooks.StartContainer, state); err != nil {
			return err
		}
	}
	return execProcess(cfg, path, set, agent)
}

// waitForStart blocks until `xrt start` writes a byte into the exec fifo.
// The fd stays open (close-on-exec) so `start` can see the moment init
// execs the user's program: the fifo then loses its last reader.
func waitForStart(fd int) error {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for start: %w", err)
		}
		if n == 1 {
			return nil
		}
	}
}

func setNames(spec *rspec.Spec) error {
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", spec.Domainname, err)
		}
	}
	return nil
}

func writeSysctls(l *rspec.Linux) error {
	if l == nil {
		return nil
	}
	for key, val := range l.Sysctl {
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		if err := os.WriteFile(path, []byte(val), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s=%s: %w", key, val, err)
		}
	}
	return nil
}

// setupTerminal makes a pty inside the container's devpts, sends its master
// to whoever listens on the console socket and makes the slave our stdio and
// controlling terminal. The container's init (bind true) also binds it
// onto /dev/console; a process of `exec` leaves /dev/console alone.
func setupTerminal(cfg *Config, bind bool) error {
	if cfg.ConsoleFd == 0 {
		return errors.New("process.terminal is true but no console socket was given")
	}
	sock := os.NewFile(uintptr(cfg.ConsoleFd), "console-socket")
	defer sock.Close()
	master, slave, err := console.NewPty()
	if err != nil {
		return err
	}
	defer master.Close()
	if err := console.SendFd(sock, slave, master); err != nil {
		return fmt.Errorf("send the pty master over the console socket: %w", err)
	}
	if bind {
		if err := bindConsole(slave); err != nil {
			return err
		}
	}
	return console.SetupSlave(slave, cfg.Spec.Process.ConsoleSize)
}

// bindConsole makes /dev/console the container's terminal, as on a real
// system, when the root filesystem has a /dev (a file to mount on is made).
func bindConsole(slave string) error {
	if _, err := os.Stat("/dev"); err != nil {
		return nil
	}
	f, err := os.OpenFile("/dev/console", os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	f.Close()
	if err := unix.Mount(slave, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s onto /dev/console: %w", slave, err)
	}
	return nil
}

// execProcess confines the process in runc's order and execs the user's
// program: privileges are dropped last but one, seccomp comes last (or,
// without no_new_privs, before privileges are dropped).
func execProcess(cfg *Config, path string, set caps.Set, agent *os.File) error {
	p := cfg.Spec.Process
	var filter seccomp.Filter
	if len(cfg.Seccomp) > 0 {
		if err := filter.UnmarshalBinary(cfg.Seccomp); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	loadFilter := func() error {
		if len(cfg.Seccomp) == 0 {
			return nil
		}
		fd, err := filter.Load()
		if err != nil {
			return fmt.Errorf("linux.seccomp: load the filter: %w", err)
		}
		if fd < 0 {
			return nil
		}
		defer unix.Close(fd)
		if agent == nil {
			return errors.New("linux.seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
		}
		pid, status := cfg.Pid, rspec.StateCreated
		if cfg.ProcessPid != 0 { // an exec: the container runs already
			pid, status = cfg.ProcessPid, rspec.StateRunning
		}
		st := rspec.ContainerProcessState{Pid: pid, Metadata: cfg.Spec.Linux.Seccomp.ListenerMetadata,
			State: rspec.State{Version: rspec.Version, ID: cfg.ID, Status: status, Pid: cfg.Pid,
				Bundle: cfg.Bundle, Annotations: cfg.Spec.Annotations}}
		return seccomp.SendState(agent, fd, st)
	}
	if err := process.SetRlimits(p.Rlimits); err != nil {
		return err
	}
	if err := process.SetIOPriority(p.IOPriority); err != nil {
		return err
	}
	if err := process.SetScheduler(p.Scheduler); err != nil {
		return err
	}
	if err := lsm.SetExecLabels(p); err != nil {
		return err
	}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
	// while init still has it, as runc does.
	if !p.NoNewPrivileges {
		if err := loadFilter(); err != nil {
			return err
		}
	}
	if err := set.DropBounding(); err != nil {
		return err
	}
	if err := process.SetKeepCaps(true); err != nil {
		return err
	}
	chownStdio(p.User)
	if err := process.SetUser(p.User); err != nil {
		return err
	}
	umask := 0o022 // runc's default when process.user.umask is unset
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if err := process.SetKeepCaps(false); err != nil {
		return err
	}
	if err := set.Apply(); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := process.SetNoNewPrivileges(); err != nil {
			return err
		}
		// Last: the fewer syscalls after it, the fewer a profile must allow.
		if err := loadFilter(); err != nil {
			return err
		}
	}
	err := unix.Exec(path, p.Args, p.Env)
	return fmt.Errorf("exec %s: %w", p.Args[0], err)
}

// chownStdio gives the container's user its stdio (pipes from the caller),
// as runc does, so a non-root process can reopen /proc/self/fd/1. Terminals
// and /dev/null are left alone; failures are harmless.
func chownStdio(u rspec.User) {
	if u.UID == 0 && u.GID == 0 {
		return
	}
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFCHR {
			continue
		}
		_ = unix.Fchown(fd, int(u.UID), int(u.GID))
	}
}

// chrootOnly enters the root filesystem of a container that shares the
// host's mount namespace. Mounting anything there would change the host, so
// the config's mounts, masked and read-only paths are not applied (runc
// mounts them onto the host and leaves them behind).
func chrootOnly(o rootfs.Options) error {
	if n := len(o.Spec.Mounts); n > 0 {
		fmt.Fprintf(os.Stderr, "xrt: warning: no mount namespace: %d mounts of config.json not applied\n", n)
	}
	if o.BeforePivot != nil {
		if err := o.BeforePivot(); err != nil {
			return err
		}
	}
	if err := unix.Chroot(o.Rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", o.Rootfs, err)
	}
	return unix.Chdir("/")
}

// enterCgroup moves the calling thread, the one that will exec, into the
// container's v1 cgroups. Moving only oneself skips the kernel's
// threadgroup lock and its RCU grace period; the runtime's other threads
// stay behind and vanish at execve.
func enterCgroup(tasks []string) error {
	for _, path := range tasks {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			_, err = unix.Write(fd, []byte("0"))
			unix.Close(fd)
		}
		if err != nil {
			return fmt.Errorf("join cgroup %s: %w", filepath.Dir(path), err)
		}
	}
	return nil
}
