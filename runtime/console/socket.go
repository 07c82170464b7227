package console

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxName bounds the name that travels with a passed fd, as runc does.
const maxName = 4096

// Dial connects to the unix stream socket at path (a --console-socket) and
// returns the connection as a blocking, close-on-exec file that can be
// passed to a child in ExtraFiles.
func Dial(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socket %s: %w", path, err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect to console socket %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// SendFd sends f over the connected unix socket sock with SCM_RIGHTS; name
// is the message payload (runc sends the master's name, "/dev/ptmx"). An
// empty name sends f.Name(), since a stream socket needs at least one byte
// of payload.
func SendFd(sock *os.File, name string, f *os.File) error {
	if name == "" {
		name = f.Name()
	}
	if len(name) > maxName {
		return fmt.Errorf("send fd over %s: name longer than %d bytes", sock.Name(), maxName)
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("send %s: %w", f.Name(), err)
	}
	sc, err := sock.SyscallConn()
	if err != nil {
		return fmt.Errorf("send fd over %s: %w", sock.Name(), err)
	}
	var sendErr error
	cerr := fc.Control(func(ffd uintptr) {
		oob := unix.UnixRights(int(ffd))
		werr := sc.Write(func(sfd uintptr) bool {
			sendErr = unix.Sendmsg(int(sfd), []byte(name), oob, nil, 0)
			return sendErr != unix.EAGAIN
		})
		if sendErr == nil {
			sendErr = werr
		}
	})
	if err := errors.Join(cerr, sendErr); err != nil {
		return fmt.Errorf("send %s over %s: %w", f.Name(), sock.Name(), err)
	}
	return nil
}

// RecvFd receives one fd sent with SendFd (or by runc or any runtime that
// speaks the console-socket protocol) and returns it as a file named by the
// message payload. The fd is close-on-exec.
func RecvFd(sock *os.File) (*os.File, error) {
	sc, err := sock.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("receive fd over %s: %w", sock.Name(), err)
	}
	buf := make([]byte, maxName)
	oob := make([]byte, unix.CmsgSpace(4*4)) // room for a few fds; extras are closed
	var n, oobn int
	var recvErr error
	rerr := sc.Read(func(sfd uintptr) bool {
		n, oobn, _, _, recvErr = unix.Recvmsg(int(sfd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return recvErr != unix.EAGAIN
	})
	if err := errors.Join(rerr, recvErr); err != nil {
		return nil, fmt.Errorf("receive fd over %s: %w", sock.Name(), err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive fd over %s: %w", sock.Name(), err)
	}
	var fds []int
	for i := range msgs {
		if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) == 0 {
		if n == 0 {
			return nil, fmt.Errorf("receive fd over %s: connection closed", sock.Name())
		}
		return nil, fmt.Errorf("receive fd over %s: message %q carried no fd", sock.Name(), buf[:n])
	}
	for _, extra := range fds[1:] {
		unix.Close(extra)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
