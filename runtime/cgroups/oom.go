package cgroups

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// OOMNotifier reports the kernel's OOM killer acting in one cgroup.
type OOMNotifier struct {
	f     *os.File // an eventfd (v1) or inotify (v2), non-blocking so Close wakes Wait
	buf   [4096]byte
	event func() (oom, gone bool) // after a wake-up: what happened
}

// Wait blocks until the next OOM event. It returns io.EOF once the cgroup
// is gone (v1) or has no process left (v2), and an error wrapping
// os.ErrClosed after Close.
func (n *OOMNotifier) Wait() error {
	for {
		if _, err := n.f.Read(n.buf[:]); err != nil {
			return fmt.Errorf("wait for OOM events: %w", err)
		}
		oom, gone := n.event()
		if oom {
			return nil
		}
		if gone {
			return io.EOF
		}
	}
}

// Close stops the notifier; a Wait in progress returns.
func (n *OOMNotifier) Close() error { return n.f.Close() }

// oomV1 registers an eventfd on memory.oom_control through
// cgroup.event_control. The kernel also signals it when the cgroup is
// removed, which is told apart by the control file being gone.
func oomV1(dir string) (*OOMNotifier, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("OOM events: eventfd: %w", err)
	}
	f := os.NewFile(uintptr(efd), "oom-eventfd")
	ctl, err := os.Open(dir + "/memory.oom_control")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("OOM events: %w", err)
	}
	defer ctl.Close()
	if err := writeFile(dir, "cgroup.event_control", strconv.Itoa(efd)+" "+strconv.Itoa(int(ctl.Fd()))); err != nil {
		f.Close()
		return nil, fmt.Errorf("OOM events: %w", err)
	}
	return &OOMNotifier{f: f, event: func() (bool, bool) {
		gone := !exists(dir + "/cgroup.event_control")
		return !gone, gone
	}}, nil
}

// oomV2 watches memory.events with inotify and counts oom_kill; it stops
// when cgroup.events says no process is left.
func oomV2(dir string) (*OOMNotifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("OOM events: inotify: %w", err)
	}
	f := os.NewFile(uintptr(fd), "oom-inotify")
	for _, name := range []string{"memory.events", "cgroup.events"} {
		if _, err := unix.InotifyAddWatch(fd, dir+"/"+name, unix.IN_MODIFY); err != nil {
			f.Close()
			return nil, fmt.Errorf("OOM events: watch %s/%s: %w", dir, name, err)
		}
	}
	kills := readFlatKeyed(dir, "memory.events")["oom_kill"]
	return &OOMNotifier{f: f, event: func() (bool, bool) {
		now := readFlatKeyed(dir, "memory.events")["oom_kill"]
		oom := now > kills
		kills = now
		if oom {
			return true, false
		}
		ev := readFlatKeyed(dir, "cgroup.events")
		_, ok := ev["populated"]
		return false, !ok || ev["populated"] == 0
	}}, nil
}
