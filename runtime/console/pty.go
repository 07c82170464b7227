// Package console gives a container a terminal when process.terminal is
// true, the way runc does: the container's init opens a pty inside the
// container (after pivot_root, so /dev/ptmx is the container's devpts),
// makes the slave its controlling terminal and stdio, and sends the master
// over the --console-socket with SCM_RIGHTS. Without a console socket,
// `xrt run` receives the master itself and proxies it to its own terminal
// (Proxy).
//
// The order in init is: NewPty, SetupSlave, SendFd over the socket from
// Dial, close the master and the socket, then exec. SetupSlave makes the
// caller a session leader when it is not one already, so init may be started
// with or without SysProcAttr.Setsid.
package console

import (
	"fmt"
	"os"
	"strconv"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// NewPty opens a new pty master from /dev/ptmx, unlocks it and returns it
// with its slave's path. The master is close-on-exec and in blocking mode
// (it is meant to be sent to another process, which shares that mode).
func NewPty() (master *os.File, slavePath string, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("unlock pty /dev/ptmx: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("get pty number of /dev/ptmx: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), "/dev/pts/" + strconv.FormatUint(uint64(n), 10), nil
}

// SetupSlave makes slavePath the controlling terminal and the stdin, stdout
// and stderr of the calling process, starting a new session first unless the
// caller already leads one. size, when given (process.consoleSize), sets the
// window size.
func SetupSlave(slavePath string, size *rspec.Box) error {
	if sid, _ := unix.Getsid(0); sid != unix.Getpid() {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid for terminal %s: %w", slavePath, err)
		}
	}
	fd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open terminal %s: %w", slavePath, err)
	}
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
			unix.Close(fd)
			return fmt.Errorf("set window size of %s (process.consoleSize): %w", slavePath, err)
		}
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		unix.Close(fd)
		return fmt.Errorf("make %s the controlling terminal: %w", slavePath, err)
	}
	for std := 0; std < 3; std++ {
		if fd == std { // stdio was closed: keep this fd, open across exec
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
				return fmt.Errorf("clear close-on-exec of terminal %s: %w", slavePath, err)
			}
			continue
		}
		if err := unix.Dup3(fd, std, 0); err != nil {
			unix.Close(fd)
			return fmt.Errorf("dup terminal %s onto fd %d: %w", slavePath, std, err)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}
