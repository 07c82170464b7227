package shim

import (
	"os"
	"sync"
	"sync/atomic"

	"github.com/xrt-dev/xrt/shim/logfile"
	"github.com/xrt-dev/xrt/shim/proto"
)

// copyBuf is the read size of an output copier.
const copyBuf = 32 << 10

// An attached client may fall behind by clientQueue chunks or
// clientQueueBytes bytes, whichever comes first; beyond that the shim drops
// output for it (never for the log, never blocking the container).
const (
	clientQueue      = 256
	clientQueueBytes = 256 << 10
)

// startOutput starts one copier per output stream: log, then every
// attached client.
func (s *Shim) startOutput(io *stdio) {
	if io.console != nil {
		s.outputs.Add(1)
		go s.copyOut(io.console, proto.KindStdout, s.log.Stream("stdout"))
		return
	}
	s.outputs.Add(2)
	go s.copyOut(io.stdout, proto.KindStdout, s.log.Stream("stdout"))
	go s.copyOut(io.stderr, proto.KindStderr, s.log.Stream("stderr"))
}

// release ends the hold on the output (Config.HoldOutput).
func (s *Shim) release() { s.holdOnce.Do(func() { close(s.held) }) }

func (s *Shim) copyOut(r *os.File, kind byte, ls *logfile.Stream) {
	defer s.outputs.Done()
	<-s.held
	buf := make([]byte, copyBuf)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			ls.Write(buf[:n])
			s.hub.broadcast(kind, buf[:n])
		}
		if err != nil {
			break // EOF, or EIO from a pty whose last slave closed
		}
	}
	ls.Flush()
	if r != s.console {
		r.Close()
	}
}

// chunk is one frame queued for a client.
type chunk struct {
	kind byte
	data []byte
}

// hub is the set of attached clients.
type hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
}

// client is one attached connection: a queue and a goroutine that writes
// it out, so that a slow client only ever slows itself.
type client struct {
	conn     *os.File
	ch       chan chunk
	out, err bool // wants stdout, stderr
	once     sync.Once
	final    chunk        // written after the queue, then the connection closes
	queued   atomic.Int64 // bytes in ch
}

func newClient(conn *os.File, out, err bool, wg *sync.WaitGroup) *client {
	c := &client{conn: conn, ch: make(chan chunk, clientQueue), out: out, err: err}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	return c
}

// send queues a copy of p, or drops it when the client is behind.
func (c *client) send(kind byte, p []byte) {
	if c.queued.Load()+int64(len(p)) > clientQueueBytes {
		return
	}
	select {
	case c.ch <- chunk{kind, append([]byte(nil), p...)}:
		c.queued.Add(int64(len(p)))
	default:
	}
}

// finish ends the stream with a final frame (kind 0: none).
func (c *client) finish(kind byte, payload []byte) {
	c.once.Do(func() {
		c.final = chunk{kind, payload}
		close(c.ch)
	})
}

func (c *client) writeLoop() {
	ok := true
	for m := range c.ch {
		c.queued.Add(-int64(len(m.data)))
		if ok && proto.WriteFrame(c.conn, m.kind, m.data) != nil {
			ok = false
			c.conn.Close() // the reader side sees it and unregisters
		}
	}
	if ok && c.final.kind != 0 {
		proto.WriteFrame(c.conn, c.final.kind, c.final.data)
	}
	c.conn.Close()
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients == nil {
		h.clients = map[*client]struct{}{}
	}
	h.clients[c] = struct{}{}
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
}

func (h *hub) broadcast(kind byte, p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if kind == proto.KindStdout && c.out || kind == proto.KindStderr && c.err {
			c.send(kind, p)
		}
	}
}

// finishAll ends every client's stream with the frame given.
func (h *hub) finishAll(kind byte, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.finish(kind, payload)
		delete(h.clients, c)
	}
}
