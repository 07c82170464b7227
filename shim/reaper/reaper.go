// Package reaper makes the calling process a child subreaper and reaps
// every child it gets: the processes it starts, and the orphans the kernel
// re-parents to it (a container's init after the runtime that forked it
// exits, processes started by `runtime exec --detach`, their descendants).
//
// One goroutine calls wait4(-1) on SIGCHLD. Anyone who wants an exit status
// asks for it by pid: Start registers the pid before the reaper can see it
// exit, and Watch covers pids learned later (from a pid file), including
// ones that already exited. os/exec must not be used beside it: its Wait
// would race the reaper for the same children.
package reaper

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxUnclaimed bounds the exit statuses kept for pids nobody asked for yet
// (orphans of a busy container); the oldest half is forgotten beyond it.
const maxUnclaimed = 1024

// Reaper collects the exit statuses of the process's children.
type Reaper struct {
	mu        sync.Mutex
	waiters   map[int][]chan unix.WaitStatus
	unclaimed map[int]unix.WaitStatus
	order     []int // unclaimed pids, oldest first
}

// New makes the process a child subreaper and starts reaping.
func New() (*Reaper, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", err)
	}
	r := &Reaper{waiters: map[int][]chan unix.WaitStatus{}, unclaimed: map[int]unix.WaitStatus{}}
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGCHLD)
	go func() {
		for range ch {
			r.reap()
		}
	}()
	return r, nil
}

// Start starts a process (argv[0] must be an absolute path) and returns its
// pid and a channel that receives its wait status once.
func (r *Reaper) Start(argv []string, attr *syscall.ProcAttr) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err != nil {
		return 0, nil, &os.PathError{Op: "fork/exec", Path: argv[0], Err: err}
	}
	return pid, r.watchLocked(pid), nil
}

// Watch returns a channel that receives the wait status of child pid once,
// at once when the reaper already collected it.
func (r *Reaper) Watch(pid int) <-chan unix.WaitStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watchLocked(pid)
}

func (r *Reaper) watchLocked(pid int) <-chan unix.WaitStatus {
	ch := make(chan unix.WaitStatus, 1)
	if ws, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		ch <- ws
		return ch
	}
	r.waiters[pid] = append(r.waiters[pid], ch)
	return ch
}

// reap collects every child that has exited.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if !ws.Exited() && !ws.Signaled() {
			continue // stopped or continued: not an exit
		}
		if chs, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			for _, ch := range chs {
				ch <- ws
			}
			continue
		}
		r.unclaimed[pid] = ws
		r.order = append(r.order, pid)
		if len(r.order) > maxUnclaimed {
			for _, old := range r.order[:maxUnclaimed/2] {
				delete(r.unclaimed, old)
			}
			r.order = append(r.order[:0], r.order[maxUnclaimed/2:]...)
		}
	}
}

// ExitCode is the shell's view of a wait status: the code of a process that
// exited, 128+N for one killed by signal N.
func ExitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
