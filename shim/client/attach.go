package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/shim/proto"
)

// Streams connect a process's stdio to the caller. Nil writers discard
// that stream (and do not ask the shim for it); a nil Stdin sends nothing.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// CloseStdinOnEOF closes the process's stdin when Stdin ends (docker's
	// --attach with stdin-once); otherwise the end of Stdin only stops
	// the copy.
	CloseStdinOnEOF bool
	// DetachKeys is the sequence that detaches (attach only), Docker's
	// syntax; default "ctrl-p,ctrl-q".
	DetachKeys string
	// Resize carries window sizes for the process's pty.
	Resize <-chan WindowSize
	// Attached, when set, is called once the shim has answered: from then
	// on every byte of output reaches this client (unless it falls behind).
	Attached func()
	// Started, when set, is called with an exec's pid once it runs
	// (Exec only).
	Started func(pid int)
}

// WindowSize is a terminal size in characters.
type WindowSize struct{ Width, Height int }

// ErrDetached is returned by Attach when the detach keys were typed.
var ErrDetached = errors.New("detached")

// Attach connects streams to the container until the detach keys are
// typed (ErrDetached), the container exits (its status is returned), or
// ctx ends. Several clients may attach at once; output the client cannot
// keep up with is dropped for it, never for the log.
func (s *Shim) Attach(ctx context.Context, st Streams) (*ExitStatus, error) {
	req := proto.Request(proto.OpAttach)
	req.SetBool("stdin", st.Stdin != nil)
	req.SetBool("stdout", st.Stdout != nil)
	req.SetBool("stderr", st.Stderr != nil)
	if st.DetachKeys != "" {
		req.Set("detach-keys", st.DetachKeys)
	}
	c, err := s.dial(ctx, req)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := readResponse(c); err != nil {
		return nil, err
	}
	if st.Attached != nil {
		st.Attached()
	}
	return stream(ctx, c, st)
}

// Exec runs process in the container (through the runtime's exec) with
// its own stdio, and returns its exit status once it ended and its output
// was copied. process.Terminal gives it a pty.
func (s *Shim) Exec(ctx context.Context, process *rspec.Process, st Streams) (*ExitStatus, error) {
	if process == nil {
		return nil, errors.New("exec: no process")
	}
	data, err := json.Marshal(process)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	req := proto.Request(proto.OpExec)
	req.Set("process", string(data))
	req.SetBool("terminal", process.Terminal)
	req.SetBool("stdin", st.Stdin != nil)
	c, err := s.dial(ctx, req)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	f, err := readResponse(c)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	pid, _ := f.Int("pid")
	st.DetachKeys = ""
	if st.Started != nil {
		st.Started(int(pid))
	}
	if st.Attached != nil {
		st.Attached()
	}
	e, err := stream(ctx, c, st)
	if e != nil {
		e.Pid = int(pid)
	}
	return e, err
}

// stream copies st both ways over c until the shim ends the stream.
func stream(ctx context.Context, c net.Conn, st Streams) (*ExitStatus, error) {
	var wmu sync.Mutex
	send := func(kind byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return proto.WriteFrame(c, kind, p)
	}
	done := make(chan struct{})
	defer close(done)
	if st.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := st.Stdin.Read(buf)
				if n > 0 && send(proto.KindStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					if err == io.EOF && st.CloseStdinOnEOF {
						send(proto.KindClose, nil)
					}
					return
				}
			}
		}()
	}
	if st.Resize != nil {
		go func() {
			for {
				select {
				case ws := <-st.Resize:
					var f proto.Fields
					f.SetInt("width", int64(ws.Width))
					f.SetInt("height", int64(ws.Height))
					if send(proto.KindResize, f.Marshal()) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	var buf []byte
	for {
		kind, payload, nb, err := proto.ReadFrame(c, buf)
		buf = nb
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("the shim closed the stream: %w", err)
		}
		switch kind {
		case proto.KindStdout:
			if st.Stdout != nil {
				st.Stdout.Write(payload)
			}
		case proto.KindStderr:
			if st.Stderr != nil {
				st.Stderr.Write(payload)
			}
		case proto.KindDetached:
			return nil, ErrDetached
		case proto.KindExit:
			f, err := proto.UnmarshalFields(payload)
			if err != nil {
				return nil, err
			}
			e := exitFromFields(f)
			return &e, nil
		}
	}
}
