package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/api/client"
)

// Stream numbers of stdcopy's 8-byte frame header (stream, 0, 0, 0,
// big-endian uint32 length), how the daemon multiplexes a process's
// output without a tty.
const (
	streamStdin  = 0
	streamStdout = 1
	streamStderr = 2
	streamSystem = 3 // an error from the daemon, ending the stream
)

// demux copies stdcopy frames from src to stdout and stderr until src
// ends. A system-error frame becomes the returned error.
func demux(stdout, stderr io.Writer, src io.Reader) error {
	var hdr [8]byte
	buf := make([]byte, 32*1024)
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("output stream cut inside a frame header")
			}
			return err
		}
		var dst io.Writer
		switch hdr[0] {
		case streamStdin, streamStdout:
			dst = stdout
		case streamStderr:
			dst = stderr
		case streamSystem:
			dst = nil
		default:
			return fmt.Errorf("output stream: unknown stream %d in a frame header", hdr[0])
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		if hdr[0] == streamSystem {
			msg := make([]byte, n)
			if _, err := io.ReadFull(src, msg); err != nil {
				return fmt.Errorf("output stream: reading an error frame: %w", err)
			}
			return errors.New(string(msg))
		}
		for n > 0 {
			chunk := min(n, len(buf))
			if _, err := io.ReadFull(src, buf[:chunk]); err != nil {
				return fmt.Errorf("output stream cut inside a frame: %w", err)
			}
			if dst != nil {
				if _, err := dst.Write(buf[:chunk]); err != nil {
					return err
				}
			}
			n -= chunk
		}
	}
}

// defaultDetachKeys is docker's ctrl-p,ctrl-q.
const defaultDetachKeys = "ctrl-p,ctrl-q"

// parseDetachKeys reads a detach sequence as docker: comma-separated
// single characters or ctrl-<a-z, @, [, \, ], ^, _>.
func parseDetachKeys(s string) ([]byte, error) {
	var out []byte
	for _, k := range strings.Split(s, ",") {
		if len(k) == 1 {
			out = append(out, k[0])
			continue
		}
		name, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-")
		if !ok || len(name) != 1 {
			return nil, fmt.Errorf("invalid detach keys %q: unknown key %q", s, k)
		}
		switch ch := name[0]; {
		case ch >= 'a' && ch <= 'z':
			out = append(out, ch-'a'+1)
		case ch == '@':
			out = append(out, 0)
		case ch >= '[' && ch <= '_':
			out = append(out, ch-'['+27)
		default:
			return nil, fmt.Errorf("invalid detach keys %q: unknown key %q", s, k)
		}
	}
	return out, nil
}

// errDetached ends a stream when the user typed the detach keys.
var errDetached = errors.New("detached")

// escapeReader passes input through until it sees the detach sequence,
// then returns errDetached. A partial match is held back and passed on
// when the next byte does not continue it.
type escapeReader struct {
	r       io.Reader
	keys    []byte
	matched int
	pending []byte
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if len(e.pending) > 0 {
		n := copy(p, e.pending)
		e.pending = e.pending[n:]
		return n, nil
	}
	buf := make([]byte, len(p))
	n, err := e.r.Read(buf)
	var out []byte
	for _, b := range buf[:n] {
		if b == e.keys[e.matched] {
			e.matched++
			if e.matched == len(e.keys) {
				return e.flush(p, out, errDetached)
			}
			continue
		}
		out = append(out, e.keys[:e.matched]...)
		e.matched = 0
		if b == e.keys[0] {
			e.matched = 1
			if len(e.keys) == 1 {
				return e.flush(p, out, errDetached)
			}
			continue
		}
		out = append(out, b)
	}
	if len(out) == 0 && err == nil && n > 0 {
		// Everything read is a possible start of the sequence.
		return e.Read(p)
	}
	if err != nil && e.matched > 0 {
		out = append(out, e.keys[:e.matched]...)
		e.matched = 0
	}
	return e.flush(p, out, err)
}

// flush returns what fits of out now and keeps the rest (and err, as
// soon as everything went out).
func (e *escapeReader) flush(p, out []byte, err error) (int, error) {
	n := copy(p, out)
	if n < len(out) {
		e.pending = append(e.pending, out[n:]...)
		if err != nil {
			e.r = errReader{err}
		}
		return n, nil
	}
	return n, err
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// streams says which local ends a hijacked connection is tied to.
type streams struct {
	stdin          io.Reader // nil: no input
	stdout, stderr io.Writer // nil: not attached
	tty            bool
	detachKeys     []byte // with tty: the sequence that detaches
}

// pump moves a hijacked connection's data until the output ends, the
// input is detached from, or ctx ends. The end of stdin half-closes the
// connection (the process sees EOF) and waits for the output to end.
func pump(ctx context.Context, h client.HijackedResponse, s streams) error {
	outDone := make(chan error, 1)
	go func() {
		var err error
		switch {
		case s.stdout == nil && s.stderr == nil:
			_, err = io.Copy(io.Discard, h.Reader)
		case s.tty:
			_, err = io.Copy(orDiscard(s.stdout), h.Reader)
		default:
			err = demux(orDiscard(s.stdout), orDiscard(s.stderr), h.Reader)
		}
		outDone <- err
	}()
	inDone := make(chan error, 1)
	if s.stdin != nil {
		go func() {
			in := s.stdin
			if s.tty && len(s.detachKeys) > 0 {
				in = &escapeReader{r: in, keys: s.detachKeys}
			}
			_, err := io.Copy(h.Conn, in)
			if errors.Is(err, errDetached) {
				inDone <- err
				return
			}
			_ = h.CloseWrite()
			inDone <- nil
		}()
	}
	select {
	case err := <-outDone:
		return err
	case err := <-inDone:
		if err != nil {
			return err
		}
		if s.stdout == nil && s.stderr == nil {
			return nil
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-outDone:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// rawTerminal puts the terminal on stdin in raw mode (for -t with input)
// and returns what restores it; a no-op when stdin is no terminal.
func rawTerminal() func() {
	con, err := console.ConsoleFromFile(os.Stdin)
	if err != nil {
		return func() {}
	}
	if err := con.SetRaw(); err != nil {
		return func() {}
	}
	return func() { _ = con.Reset() }
}

// terminalSize is stdout's terminal size (ok false when it is none).
func terminalSize() (height, width uint, ok bool) {
	ws, err := unix.IoctlGetWinsize(int(os.Stdout.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 {
		return 0, 0, false
	}
	return uint(ws.Row), uint(ws.Col), true
}

// followTerminalSize sends the terminal's size now and on every SIGWINCH
// until ctx ends. resize is the container's or the exec's.
func followTerminalSize(ctx context.Context, resize func(ctx context.Context, height, width uint) error) {
	if _, _, ok := terminalSize(); !ok {
		return
	}
	send := func() {
		if h, w, ok := terminalSize(); ok {
			_ = resize(ctx, h, w)
		}
	}
	send()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-winch:
				send()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// proxySignals forwards the signals this process gets to the container
// (docker's --sig-proxy) until ctx ends. SIGCHLD, SIGPIPE, SIGWINCH and
// SIGURG (the Go runtime's preemption) are not the user's.
func proxySignals(ctx context.Context, kill func(ctx context.Context, signal string) error) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case s := <-ch:
				sig, ok := s.(syscall.Signal)
				if !ok || sig == unix.SIGCHLD || sig == unix.SIGPIPE || sig == unix.SIGWINCH || sig == unix.SIGURG {
					continue
				}
				if err := kill(ctx, strconv.Itoa(int(sig))); err != nil && ctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "xmgr: forwarding signal %d: %v\n", sig, err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}
