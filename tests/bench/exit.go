package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// sysPidfdOpen is pidfd_open(2): 434 on every Linux architecture (the frozen syscall
// package does not name it).
const sysPidfdOpen = 434

// pidfdFromFile opens a pidfd for the process whose pid a runtime wrote to path. Taken
// while the container is created but not started, it cannot name a reused pid.
func pidfdFromFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return -1, fmt.Errorf("pid file %s: bad pid %q", path, data)
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno != 0 {
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, errno)
	}
	return int(fd), nil
}

// waitExit blocks until the process behind pidfd has exited. A pidfd turns readable on
// exit whoever the parent is, so this needs neither polling `state` nor being the reaper.
func waitExit(pidfd int, timeout time.Duration) error {
	word := int(unsafe.Sizeof(syscall.FdSet{}.Bits[0])) * 8
	deadline := time.Now().Add(timeout)
	for {
		var set syscall.FdSet
		set.Bits[pidfd/word] |= 1 << (pidfd % word)
		tv := syscall.NsecToTimeval(int64(time.Until(deadline)))
		n, err := syscall.Select(pidfd+1, &set, nil, nil, &tv)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("select on pidfd: %w", err)
		case n == 0:
			return fmt.Errorf("container process still running after %v", timeout)
		}
		return nil
	}
}
