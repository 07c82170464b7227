package container

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/console"
)

// RunOptions are the flags of `xrt run` beyond those of create.
type RunOptions struct {
	CreateOptions
	Detach bool
	Keep   bool // keep the stopped container instead of deleting it
}

// Run creates and starts a container. Detached, it returns once the
// container runs. In the foreground it forwards signals (and, with a
// terminal, the pty) until init exits, deletes the container unless Keep,
// and returns init's exit code (128+signal when killed).
func Run(root, id string, o RunOptions) (int, error) {
	if o.Detach {
		c, err := Create(root, id, o.CreateOptions)
		if err != nil {
			return 1, err
		}
		if err := c.Start(); err != nil {
			_ = c.Delete(true)
			return 1, err
		}
		return 0, nil
	}

	// As a subreaper we can wait for an init that nsenter forked.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 1, err
	}
	// Catching every signal takes a millisecond: it overlaps create. No
	// signal.Stop at the end either: it waits for the signal loop to go
	// idle, and the process exits right after Run.
	sigs := make(chan os.Signal, 64)
	notified := make(chan struct{})
	go func() { signal.Notify(sigs); close(notified) }()

	o.foreground = true
	c, st, err := create(root, id, o.CreateOptions)
	<-notified // before start: from then on, signals go to the container
	if err != nil {
		return 1, err
	}
	var proxy *console.Proxy
	if st.master != nil {
		if proxy, err = console.StartProxy(st.master); err != nil {
			_ = c.Delete(true)
			return 1, err
		}
	}
	if err := c.Start(); err != nil {
		if proxy != nil {
			proxy.Close()
		}
		_ = c.Delete(true)
		return 1, err
	}
	code := supervise(c.Pid, sigs, proxy)
	if proxy != nil {
		proxy.Close()
	}
	if !o.Keep {
		if err := c.Delete(true); err != nil {
			return code, err
		}
	}
	return code, nil
}

// supervise forwards signals to pid (init, or the process of an exec) and
// reaps children until pid exits.
func supervise(pid int, sigs chan os.Signal, proxy *console.Proxy) int {
	for {
		// Reap first: init may have exited before we got here.
		if code, done := reap(pid); done {
			return code
		}
		sig := (<-sigs).(unix.Signal)
		switch sig {
		case unix.SIGCHLD:
		case unix.SIGURG: // the Go runtime's own preemption signal
		case unix.SIGWINCH:
			if proxy == nil {
				_ = unix.Kill(pid, sig)
			} // else the proxy resizes the pty, and the kernel tells the container
		default:
			_ = unix.Kill(pid, sig)
		}
	}
}

// reap collects every exited child; it reports pid's exit code once pid is among them.
func reap(pid int) (int, bool) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return 0, false
		}
		if got == pid {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), true
			}
			return ws.ExitStatus(), true
		}
	}
}
