package seccomp

import (
	"encoding/json"
	"fmt"
	"os"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SendListener hands the notify fd to the seccomp agent listening on the
// unix socket listenerPath (linux.seccomp.listenerPath): one message whose
// data is st as JSON and whose SCM_RIGHTS carry fd. st.Fds is set to
// ["seccompFd"] and an empty st.Version to the spec's version; the caller
// fills Pid, Metadata (linux.seccomp.listenerMetadata) and State. fd stays
// open: the caller closes it.
//
// listenerPath is a host path, so this must run in a process that sees the
// host's mount namespace (the runtime, not a pivoted init: see DialListener).
func SendListener(listenerPath string, fd int, st rspec.ContainerProcessState) error {
	sock, err := DialListener(listenerPath)
	if err != nil {
		return err
	}
	defer sock.Close()
	return SendState(sock, fd, st)
}

// DialListener connects to the seccomp agent at listenerPath. The
// container's init dials before pivot_root, while the host path is still
// reachable, and sends on the connection once the filter is loaded.
func DialListener(listenerPath string) (*os.File, error) {
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket for linux.seccomp.listenerPath: %w", err)
	}
	if err := ignoringEINTR(func() error {
		return unix.Connect(sock, &unix.SockaddrUnix{Name: listenerPath})
	}); err != nil {
		unix.Close(sock)
		return nil, fmt.Errorf("linux.seccomp.listenerPath %s: %w", listenerPath, err)
	}
	return os.NewFile(uintptr(sock), listenerPath), nil
}

// SendState sends st as JSON with fd (SCM_RIGHTS) on a connection from
// DialListener. st.Fds is set to ["seccompFd"] and an empty st.Version to
// the spec's version.
func SendState(conn *os.File, fd int, st rspec.ContainerProcessState) error {
	st.Fds = []string{rspec.SeccompFdName}
	if st.Version == "" {
		st.Version = rspec.Version
	}
	payload, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("seccomp listener state: %w", err)
	}
	sock := int(conn.Fd())
	var n int
	if err := ignoringEINTR(func() (err error) {
		n, err = unix.SendmsgN(sock, payload, unix.UnixRights(fd), nil, 0)
		return err
	}); err != nil {
		return fmt.Errorf("sending the seccomp fd to %s: %w", conn.Name(), err)
	}
	// The fd went with the first byte; a short write leaves only data.
	for n < len(payload) {
		m, err := unix.Write(sock, payload[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sending the seccomp state to %s: %w", conn.Name(), err)
		}
		n += m
	}
	return nil
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}
