package container

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/hooks"
)

// Start lets a created container's init exec the user's program. With
// poststart hooks it waits until init has exec'd and then runs them;
// without, it returns at once, as runc does: from now on the container is
// running.
func (c *Container) Start() error {
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	if st := c.Status(); st != rspec.StateCreated {
		return fmt.Errorf("cannot start container %s: it is %s, not created: %w", c.ID, st, ErrState)
	}
	fifo := filepath.Join(c.dir, fifoFile)
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("cannot start container %s: its init has exited", c.ID)
		}
		return fmt.Errorf("exec fifo: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	poststart := c.Hooks != nil && len(c.Hooks.Poststart) > 0
	if poststart {
		if err := waitExec(fd); err != nil {
			return err
		}
	}
	if err := os.Remove(fifo); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	slog.Debug("started", "id", c.ID, "pid", c.Pid)
	if poststart {
		if err := hooks.RunAll("poststart", c.Hooks.Poststart, c.hookState(rspec.StateRunning)); err != nil {
			slog.Warn(err.Error())
		}
	}
	return nil
}

// waitExec waits until init has exec'd the user's program: init holds the
// fifo until its execve closes it (close-on-exec), and the write end fd
// then reports POLLERR.
func waitExec(fd int) error {
	fds := []unix.PollFd{{Fd: int32(fd)}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for init to exec: %w", err)
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return nil
		}
	}
}
