package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// drainWait bounds how long Close waits for the container's last output
// (until every holder of the slave has closed it).
const drainWait = time.Second

// Proxy connects xrt's own stdin and stdout to a container's pty master,
// for `xrt run` in the foreground with process.terminal true.
type Proxy struct {
	master  *os.File
	term    console.Console // our stdin, when it is a terminal; nil otherwise
	in      *os.File
	drained chan struct{} // closed when master reports EOF or EIO
	stop    chan struct{}
	sigs    chan os.Signal
}

// StartProxy takes ownership of master and copies between it and xrt's
// stdin and stdout until Close. When stdin is a terminal it is put in raw
// mode and its window size (now and on every SIGWINCH) is given to the pty.
func StartProxy(master *os.File) (*Proxy, error) {
	return startProxy(master, os.Stdin, os.Stdout)
}

func startProxy(master, in, out *os.File) (*Proxy, error) {
	// A non-blocking dup lets the Go poller interrupt our reads at Close.
	fd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console proxy: dup %s: %w", master.Name(), err)
	}
	master.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("console proxy: %s: %w", master.Name(), err)
	}
	p := &Proxy{
		master:  os.NewFile(uintptr(fd), master.Name()),
		in:      in,
		drained: make(chan struct{}),
		stop:    make(chan struct{}),
	}
	if c, err := console.ConsoleFromFile(in); err == nil {
		if err := c.SetRaw(); err != nil {
			p.master.Close()
			return nil, fmt.Errorf("console proxy: raw mode on %s: %w", in.Name(), err)
		}
		// containerd/console keeps output processing on in raw mode; the
		// container's pty already turned "\n" into "\r\n", so ours must not
		// add a second "\r".
		if t, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS); err == nil {
			t.Oflag &^= unix.OPOST
			_ = unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, t)
		}
		p.term = c
		p.sigs = make(chan os.Signal, 1)
		signal.Notify(p.sigs, unix.SIGWINCH)
		p.resize()
		go p.watchSize()
	}
	go func() {
		io.Copy(out, p.master) // ends with EIO once the slave is closed everywhere
		close(p.drained)
	}()
	go io.Copy(p.master, in) // ends at stdin EOF or when Close closes the master
	return p, nil
}

func (p *Proxy) watchSize() {
	for {
		select {
		case <-p.sigs:
			p.resize()
		case <-p.stop:
			return
		}
	}
}

// resize gives the pty our terminal's size; a failure only leaves the old size.
func (p *Proxy) resize() {
	ws, err := p.term.Size()
	if err != nil {
		return
	}
	rc, err := p.master.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
	})
}

// Close waits (at most a second) for the container's remaining output,
// restores the terminal and closes the master. Call it once the container
// has exited, and only once.
func (p *Proxy) Close() error {
	select {
	case <-p.drained:
	case <-time.After(drainWait):
	}
	close(p.stop)
	var errs []error
	if p.term != nil {
		signal.Stop(p.sigs)
		if err := p.term.Reset(); err != nil {
			errs = append(errs, fmt.Errorf("restore terminal %s: %w", p.in.Name(), err))
		}
	}
	if err := p.master.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", p.master.Name(), err))
	}
	return errors.Join(errs...)
}
