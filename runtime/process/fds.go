package process

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseExtraFDs marks every descriptor from keep upwards close-on-exec, so
// that nothing the runtime opened (state dirs, pipes, the host's files)
// reaches the container's program. They stay usable until execve.
func CloseExtraFDs(keep int) error {
	if keep < 0 {
		return fmt.Errorf("closing extra fds: negative first fd %d", keep)
	}
	err := unix.CloseRange(uint(keep), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
		// No close_range before Linux 5.9, no CLOSE_RANGE_CLOEXEC before 5.11.
		return cloexecFrom(keep)
	default:
		return fmt.Errorf("close_range(%d, ~0, CLOSE_RANGE_CLOEXEC): %w", keep, err)
	}
}

// cloexecFrom is the fallback for old kernels: walk /proc/self/fd.
func cloexecFrom(keep int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("closing extra fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < keep {
			continue
		}
		// The descriptor ReadDir used is already gone: EBADF is fine.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("marking fd %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
