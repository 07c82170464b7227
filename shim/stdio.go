package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/shim/proto"
	"github.com/xrt-dev/xrt/shim/runc"
)

// stdio is the plumbing of one process's standard streams: three pipes, or
// a console socket on which the runtime sends the pty master.
type stdio struct {
	// the process's ends of the pipes, handed to the runtime and closed
	// here once it has started
	inR, outW, errW *os.File
	// our ends
	stdin, stdout, stderr *os.File
	// with a terminal
	ln         *os.File // the console socket
	socketPath string
	tmpDir     string // made when the state dir is too deep for a socket path
	console    *os.File
}

// newStdio makes the pipes, or the console socket dir/name.
func newStdio(terminal, openStdin bool, dir, name string) (io *stdio, err error) {
	io = &stdio{}
	defer func() {
		if err != nil {
			io.closeAll()
		}
	}()
	if terminal {
		io.socketPath = filepath.Join(dir, name)
		if len(io.socketPath) > maxSocketPath {
			if io.tmpDir, err = os.MkdirTemp("", "xrt-shim-"); err != nil {
				return nil, errors.New("console socket: " + err.Error())
			}
			io.socketPath = filepath.Join(io.tmpDir, name)
		}
		if io.ln, err = listenUnix(io.socketPath); err != nil {
			return nil, errors.New("console socket: " + err.Error())
		}
		return io, nil
	}
	if openStdin {
		if io.inR, io.stdin, err = os.Pipe(); err != nil {
			return nil, errors.New("stdin pipe: " + err.Error())
		}
	}
	if io.stdout, io.outW, err = os.Pipe(); err != nil {
		return nil, errors.New("stdout pipe: " + err.Error())
	}
	if io.stderr, io.errW, err = os.Pipe(); err != nil {
		return nil, errors.New("stderr pipe: " + err.Error())
	}
	// A bigger pipe means fewer wake-ups of the shim for a chatty process.
	unix.FcntlInt(io.outW.Fd(), unix.F_SETPIPE_SZ, 256<<10)
	return io, nil
}

// child is what the runtime passes down to the process.
func (io *stdio) child() runc.Stdio { return runc.Stdio{In: io.inR, Out: io.outW, Err: io.errW} }

// afterCreate closes the process's ends (so that output ends when the
// process's do) and, with a terminal, receives the pty master.
func (io *stdio) afterCreate() error {
	for _, f := range []**os.File{&io.inR, &io.outW, &io.errW} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	if io.ln == nil {
		return nil
	}
	defer io.closeSocket()
	master, err := receiveFd(io.ln)
	if err != nil {
		return errors.New("console socket: " + err.Error())
	}
	io.console = master
	io.stdin = master
	return nil
}

func (io *stdio) closeSocket() {
	if io.ln != nil {
		io.ln.Close()
		os.Remove(io.socketPath)
		io.ln = nil
	}
	if io.tmpDir != "" {
		os.RemoveAll(io.tmpDir)
		io.tmpDir = ""
	}
}

// closeAll closes every file (after a failed start).
func (io *stdio) closeAll() {
	io.closeSocket()
	for _, f := range []*os.File{io.inR, io.outW, io.errW, io.stdin, io.stdout, io.stderr, io.console} {
		if f != nil {
			f.Close()
		}
	}
}

// listenUnix listens on a new unix socket at path, mode 0600.
func listenUnix(path string) (*os.File, error) {
	if len(path) > maxSocketPath {
		return nil, errors.New(path + ": too long for a unix socket path")
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	os.Remove(path) // a stale socket of a dead shim
	old := unix.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err == nil {
		err = unix.Listen(fd, 64)
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "listen", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// alive reports whether something accepts connections on the socket at
// path (a live shim, rather than the stale socket of a dead one).
func alive(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) == nil
}

// accept waits for and accepts one connection on ln.
func accept(ln *os.File) (*os.File, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, os.NewSyscallError("accept", aerr)
	}
	return os.NewFile(uintptr(nfd), "conn"), nil
}

// receiveFd accepts the runtime's connection on a console socket and
// returns the fd it sent (SCM_RIGHTS). The runtime has exited by now, its
// message waits in the socket, so a missing one fails at once.
func receiveFd(ln *os.File) (*os.File, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cfd int
	var aerr error
	rc.Control(func(fd uintptr) {
		cfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
	})
	if aerr != nil {
		return nil, errors.New("the runtime sent no terminal: " + aerr.Error())
	}
	defer unix.Close(cfd)
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(cfd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("recvmsg", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("the runtime sent no terminal fd")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("the runtime sent " + strconv.Itoa(len(fds)) + " fds, want 1")
	}
	unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// resize sets the window size of the pty master.
func resize(console *os.File, width, height int64) error {
	if console == nil {
		return errors.New("the process has no terminal")
	}
	if width <= 0 || height <= 0 || width > 0xffff || height > 0xffff {
		return errors.New("invalid window size " + strconv.FormatInt(width, 10) + "x" + strconv.FormatInt(height, 10))
	}
	rc, err := console.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(height), Col: uint16(width)})
	})
	if ierr != nil {
		return os.NewSyscallError("TIOCSWINSZ", ierr)
	}
	return nil
}

// resizeFields applies a resize frame's payload.
func resizeFields(console *os.File, payload []byte) error {
	f, err := proto.UnmarshalFields(payload)
	if err != nil {
		return err
	}
	w, err1 := f.Int("width")
	h, err2 := f.Int("height")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	return resize(console, w, h)
}
