package shim

import (
	"errors"
	"os"
	"strings"

	"github.com/xrt-dev/xrt/shim/proto"
)

// DefaultDetachKeys is Docker's detach sequence.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// attach streams the container's output to c and c's input to the
// container until the client detaches or leaves, or the container exits.
func (s *Shim) attach(c *os.File, req proto.Fields) {
	keys := req.Get("detach-keys")
	if keys == "" {
		keys = DefaultDetachKeys
	}
	seq, err := ParseDetachKeys(keys)
	if err != nil {
		respondErr(c, err)
		c.Close()
		return
	}
	withStdin := req.Bool("stdin")
	if withStdin && !s.cfg.Stdin && !s.cfg.Terminal {
		respondErr(c, errors.New("the container's stdin is not open (start it with --stdin)"))
		c.Close()
		return
	}
	// The response goes through the client's queue, ahead of any output,
	// and the client is registered before it can read it: output from the
	// moment the client knows it is attached reaches it.
	cl := newClient(c, req.Bool("stdout"), req.Bool("stderr"), &s.streams)
	cl.ch <- chunk{proto.KindResponse, nil}
	s.hub.add(cl)
	s.release()
	select {
	case <-s.exited:
		// The exit may have come before add: finish here (finish is
		// idempotent) so the client is not left waiting.
		var f proto.Fields
		s.exit.fields(&f)
		s.hub.remove(cl)
		cl.finish(proto.KindExit, f.Marshal())
		return
	default:
	}
	d := detacher{keys: seq}
	var buf []byte
	for {
		kind, payload, nb, err := proto.ReadFrame(c, buf)
		buf = nb
		if err != nil {
			break
		}
		switch kind {
		case proto.KindStdin:
			if !withStdin {
				continue
			}
			out, detach := d.filter(payload)
			if len(out) > 0 {
				s.writeStdin(out)
			}
			if detach {
				s.hub.remove(cl)
				cl.finish(proto.KindDetached, nil)
				return
			}
		case proto.KindClose:
			if withStdin {
				s.closeStdin()
			}
		case proto.KindResize:
			resizeFields(s.console, payload)
		}
	}
	s.hub.remove(cl)
	cl.finish(0, nil)
}

// ParseDetachKeys reads a detach sequence as Docker writes it: keys
// separated by commas, each a single character or ctrl-<x> (ctrl-a to
// ctrl-z, ctrl-@, ctrl-[, ctrl-\, ctrl-], ctrl-^, ctrl-_).
func ParseDetachKeys(s string) ([]byte, error) {
	var seq []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			seq = append(seq, k[0])
		case len(k) == 6 && strings.HasPrefix(strings.ToLower(k), "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				seq = append(seq, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				seq = append(seq, c-'A'+1)
			case c >= '@' && c <= '_':
				seq = append(seq, c-'@')
			default:
				return nil, errors.New("invalid detach key " + k)
			}
		default:
			return nil, errors.New("invalid detach key " + k)
		}
	}
	return seq, nil
}

// detacher finds the detach sequence in a stdin stream. Bytes that start
// the sequence are held back until it is complete (detach) or broken
// (they go through after all).
type detacher struct {
	keys    []byte
	matched int
}

// filter returns the bytes of p to pass on, and whether the sequence
// completed (what follows it is dropped).
func (d *detacher) filter(p []byte) (out []byte, detach bool) {
	if len(d.keys) == 0 {
		return p, false
	}
	for _, b := range p {
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				d.matched = 0
				return out, true
			}
			continue
		}
		if d.matched > 0 {
			out = append(out, d.keys[:d.matched]...)
			d.matched = 0
			if b == d.keys[0] {
				d.matched = 1
				continue
			}
		}
		out = append(out, b)
	}
	return out, false
}
