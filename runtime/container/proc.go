package container

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// procStat returns a process's start time (clock ticks since boot, field 22
// of /proc/PID/stat) and its state letter. The start time tells our init
// apart from a later process that reuses its pid.
func procStat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := bytes.Fields(b[i+2:])
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	return start, fields[0][0], err
}

// pidfd opens a pidfd for the container's init, checking afterwards that the
// pid still belongs to it: from then on signals cannot reach another process.
func (c *Container) pidfd() (int, error) {
	fd, err := unix.PidfdOpen(c.Pid, 0)
	if err != nil {
		return -1, err
	}
	if !c.alive() {
		unix.Close(fd)
		return -1, unix.ESRCH
	}
	return fd, nil
}

// waitExit waits until init has exited (zombie or gone), up to timeout.
func (c *Container) waitExit(timeout time.Duration) error {
	fd, err := c.pidfd()
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("container %s: init (pid %d) did not exit within %v", c.ID, c.Pid, timeout)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}
