package shim

import (
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/xrt-dev/xrt/shim/proto"
)

// serve answers the control socket until the shim exits. One goroutine
// per connection, which ends with its request (or its stream).
func (s *Shim) serve(ln *os.File) {
	for {
		c, err := accept(ln)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		go s.handle(c)
	}
}

func respond(c *os.File, f proto.Fields) error {
	return proto.WriteFrame(c, proto.KindResponse, f.Marshal())
}

func respondErr(c *os.File, err error) {
	var f proto.Fields
	f.Set(proto.FieldError, err.Error())
	respond(c, f)
}

var errExited = errors.New("the container has exited")

// requestTimeout bounds the wait for a connection's request, so that a
// client that connects and says nothing does not hold a goroutine forever.
const requestTimeout = 10 * time.Second

func (s *Shim) handle(c *os.File) {
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	kind, payload, _, err := proto.ReadFrame(c, nil)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	if kind != proto.KindRequest {
		respondErr(c, errors.New("expected a request frame, got kind "+strconv.Quote(string(kind))))
		c.Close()
		return
	}
	req, err := proto.UnmarshalFields(payload)
	if err == nil {
		err = proto.CheckVersion(req)
	}
	if err != nil {
		respondErr(c, err)
		c.Close()
		return
	}
	switch op := req.Get("op"); op {
	case proto.OpAttach:
		s.attach(c, req) // owns c from here
		return
	case proto.OpExec:
		s.execProcess(c, req) // owns c from here
		return
	case proto.OpState:
		respond(c, s.state())
	case proto.OpWait:
		<-s.exited
		var f proto.Fields
		s.exit.fields(&f)
		if respond(c, f) == nil {
			s.collect.Do(func() { close(s.collected) })
		}
	case proto.OpKill:
		err = s.kill(req)
		s.reply(c, err)
	case proto.OpResize:
		w, err1 := req.Int("width")
		h, err2 := req.Int("height")
		if err = errors.Join(err1, err2); err == nil {
			err = resize(s.console, w, h)
		}
		s.reply(c, err)
	case proto.OpCloseStdin:
		s.reply(c, s.closeStdin())
	case proto.OpShutdown:
		select {
		case <-s.exited:
			// Answer once the runtime has forgotten the container, so
			// the caller may reuse its id at once.
			<-s.deleted
			var err error
			if s.deleteErr != nil {
				// The caller cleans up: it knows the runtime and can retry.
				err = errors.New("the runtime could not delete the container: " + s.deleteErr.Error())
			}
			s.reply(c, err)
			s.stopOnce.Do(func() { close(s.stop) })
		default:
			s.reply(c, errors.New("the container is running: kill it first"))
		}
	default:
		respondErr(c, errors.New("unknown operation "+strconv.Quote(op)))
	}
	c.Close()
}

func (s *Shim) reply(c *os.File, err error) {
	if err != nil {
		respondErr(c, err)
		return
	}
	respond(c, nil)
}

func (s *Shim) state() proto.Fields {
	f := proto.Make("id", s.cfg.ID)
	f.SetInt("pid", int64(s.pid))
	f.SetInt("shim-pid", int64(os.Getpid()))
	f.Set("bundle", s.cfg.Bundle)
	f.Set("runtime", s.cfg.Runtime)
	f.Set("log-path", s.cfg.LogPath)
	f.SetBool("terminal", s.cfg.Terminal)
	f.SetInt("log-dropped", s.log.Dropped())
	select {
	case <-s.exited:
		f.Set("status", "stopped")
		s.exit.fields(&f)
	default:
		f.Set("status", "running")
	}
	return f
}

func (s *Shim) kill(req proto.Fields) error {
	sig, err := req.Int("signal")
	if err != nil {
		return err
	}
	if sig == 0 {
		sig = 15
	}
	if sig < 1 || sig > 64 {
		return errors.New("invalid signal " + strconv.FormatInt(sig, 10))
	}
	select {
	case <-s.exited:
		return errExited
	default:
	}
	return s.rt.Kill(s.cfg.ID, int(sig), req.Bool("all"))
}

// closeStdin closes the container's stdin pipe; with a pty, it sends the
// end-of-file character (the terminal stays, as the process may use it).
func (s *Shim) closeStdin() error {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin == nil {
		return nil
	}
	if s.stdin == s.console {
		_, err := s.stdin.Write([]byte{4})
		return err
	}
	err := s.stdin.Close()
	s.stdin = nil
	return err
}

// writeStdin writes p to the container's stdin.
func (s *Shim) writeStdin(p []byte) error {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin == nil {
		return errors.New("stdin is closed")
	}
	_, err := s.stdin.Write(p)
	return err
}
