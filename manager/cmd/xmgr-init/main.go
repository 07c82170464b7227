// Command xmgr-init is the init of `xmgr run --init`, like Docker's
// docker-init (tini): as a container's pid 1 it starts the command given
// after "--", forwards every signal it can catch to it, reaps every zombie
// that the container's orphans leave, and exits as the command did: with
// its exit code, or 128 plus the signal that killed it.
//
// It is pure Go and static, so that one binary bound into any image works.
//
// SIGURG is not forwarded: the Go runtime sends it to itself to preempt
// goroutines, and those cannot be told apart from a SIGURG someone sent
// (which only sockets' out-of-band data does, to the socket's owner).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "xmgr-init: usage: xmgr-init [--] command [args...]")
		return 2
	}
	// Catch everything before the child exists, so that nothing sent in
	// between is lost.
	signals := make(chan os.Signal, 128)
	signal.Notify(signals)

	// Outside a pid namespace of its own, become the reaper of the
	// command's orphans all the same.
	if os.Getpid() != 1 {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}

	pid, err := start(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "xmgr-init: %s: %v\n", args[0], err)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
			return 127
		}
		return 126
	}
	exited := make(chan int, 1)
	go reap(pid, exited)
	for {
		select {
		case code := <-exited:
			return code
		case sig := <-signals:
			s, ok := sig.(syscall.Signal)
			if !ok || len(exited) > 0 {
				continue // once waited for, pid may be someone else's
			}
			switch s {
			case unix.SIGCHLD:
				// reap waits on its own; the signal only had to be caught
				// so that children are not auto-reaped before it sees them.
			case unix.SIGURG, unix.SIGTTIN, unix.SIGTTOU:
				// The runtime's preemption; job-control noise for a pid 1
				// out of the foreground.
			default:
				_ = unix.Kill(pid, s) // ESRCH: it is exiting already
			}
		}
	}
}

// start runs the command in a process group of its own, in the
// foreground of the terminal when there is one, as tini does: a ^C then
// reaches the command once, through init, and not twice.
func start(args []string) (int, error) {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return 0, err
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if isTerminal(0) {
		attr = &syscall.SysProcAttr{Foreground: true, Ctty: 0}
	}
	// Signals are restored to their defaults in the child by exec; the
	// Go runtime does the same for the mask.
	return syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   attr,
	})
}

// reap waits for every child that exits, the command's orphans included,
// until the command itself has exited: then it sends the code to exit
// with, 128 plus the signal when one killed it.
func reap(pid int, exited chan<- int) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			// ECHILD: nothing left to wait for, which cannot be before
			// the command has been waited for.
			fmt.Fprintf(os.Stderr, "xmgr-init: wait: %v\n", err)
			exited <- 1
			return
		case got != pid:
			continue // an orphan of the container: reaped, and forgotten
		case ws.Exited():
			exited <- ws.ExitStatus()
			return
		case ws.Signaled():
			exited <- 128 + int(ws.Signal())
			return
		}
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
