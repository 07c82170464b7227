package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/daemon"
)

// XMGR_EXEC_ROOT and XMGR_DATA_ROOT move the default socket
// (<exec-root>/xmgr.sock) and the roots of an auto-started daemon, so that
// tests and second installations do not touch /run/xmgr and /var/lib/xmgr.
func execRoot() string {
	if d := os.Getenv("XMGR_EXEC_ROOT"); d != "" {
		return d
	}
	return daemon.DefaultExecRoot
}

const (
	// startTimeout bounds the wait for an auto-started daemon's socket.
	startTimeout = 60 * time.Second
)

// connect returns a client of the daemon, version negotiated. When nobody
// answers on the default socket (no -H, XMGR_HOST or DOCKER_HOST), it
// starts `xmgr daemon` in the background and says so; XMGR_NO_AUTOSTART=1
// turns that off.
func connect(c *cli.Context) (*client.Client, error) {
	host := c.String("host")
	explicit := host != ""
	if !explicit {
		host = daemon.DefaultHost(execRoot())
	}
	cl, err := client.New(host)
	if err != nil {
		return nil, err
	}
	ctx := c.Context
	err = cl.Negotiate(ctx)
	if err == nil {
		return cl, nil
	}
	if !client.IsConnectionError(err) || explicit || os.Getenv("XMGR_NO_AUTOSTART") == "1" {
		return nil, err
	}
	pid, err := startDaemon(ctx, cl)
	if err != nil {
		return nil, err
	}
	if pid != 0 {
		fmt.Fprintf(os.Stderr, "xmgr: started the daemon (pid %d)\n", pid)
	}
	return cl, nil
}

// startDaemon runs this binary's `daemon` command in its own session,
// logging to <exec-root>/xmgr.log, and waits until it answers /_ping. It
// returns pid 0 when another daemon, started at the same time by another
// client, answers instead.
func startDaemon(ctx context.Context, cl *client.Client) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("cannot connect to the xmgr daemon at " + cl.Host() + " (and only root can start one)")
	}
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("starting the daemon: %w", err)
	}
	root := execRoot()
	if err := os.MkdirAll(root, 0o711); err != nil {
		return 0, fmt.Errorf("starting the daemon: %w", err)
	}
	logPath := filepath.Join(root, "xmgr.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("starting the daemon: %w", err)
	}
	defer logf.Close()
	args := []string{"daemon", "--exec-root", root}
	if d := os.Getenv("XMGR_DATA_ROOT"); d != "" {
		args = append(args, "--data-root", d)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(startTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := cl.Negotiate(pctx)
		cancel()
		if err == nil {
			return pid, nil
		}
		select {
		case werr := <-exited:
			// Another client may have started a daemon at the same
			// moment: ours lost the race for the lock, and theirs will
			// answer. Otherwise ours failed and its log says why.
			if !lockHeld(filepath.Join(root, "xmgr.pid")) {
				return 0, fmt.Errorf("the daemon exited at start (%v): see %s", werr, logPath)
			}
			pid, exited = 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the daemon did not answer within %s: see %s", startTimeout, logPath)
		}
	}
}

// lockHeld reports whether a daemon holds the pid file's lock.
func lockHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil
}
