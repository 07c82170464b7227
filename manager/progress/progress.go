// Package progress carries the progress of long image operations (pull,
// push, load) as Docker's JSON message stream: the daemon writes one JSON
// object a line ({"status","id","progressDetail","progress"}, errors as
// {"errorDetail","error"}) and a client renders the stream as per-layer
// lines that update in place on a terminal, or as plain lines otherwise.
// The Docker CLI reads what NewJSON writes, and Display reads what dockerd
// writes.
package progress

import (
	"encoding/json"
	"io"
	"sync"
)

// Event is one progress message. ID names the line it updates (a short
// layer digest, or a tag); an event without ID is a line of its own.
type Event struct {
	ID     string
	Status string
	// Current and Total are bytes done and expected for a transfer;
	// Total 0 means unknown.
	Current, Total int64
	// Detail marks a per-item status line (Docker sends an empty
	// progressDetail with those, which makes clients update the line in
	// place instead of appending).
	Detail bool
	// Error ends the stream with a failure.
	Error string
	// Aux is a structured result (push sends {"Tag","Digest","Size"}).
	Aux json.RawMessage
}

// Sink receives events. Implementations must be safe for concurrent use:
// layers report from their own goroutines.
type Sink interface {
	Send(Event)
}

// Discard drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Send(Event) {}

// Update is a per-item status line without byte counts: "Pulling fs
// layer", "Verifying Checksum", "Pull complete".
func Update(id, status string) Event { return Event{ID: id, Status: status, Detail: true} }

// Bytes is a per-item transfer line: "Downloading" 12MB of 30MB.
func Bytes(id, status string, current, total int64) Event {
	return Event{ID: id, Status: status, Current: current, Total: total, Detail: true}
}

// Message is a line of its own: "Digest: sha256:...", "Status: ...".
func Message(status string) Event { return Event{Status: status} }

// Recorder is a Sink that keeps every event, for tests and for callers
// that want the messages after the fact.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Send implements Sink.
func (r *Recorder) Send(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of what was sent so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Reader counts bytes read through r and reports them to s as
// Bytes(id, status, n, total), at most about once per percent (or
// 512 KiB when the total is unknown), and once more at EOF, so a
// fast transfer does not flood the stream as Docker's progress reader
// avoids too.
func Reader(r io.Reader, s Sink, id, status string, total int64) io.Reader {
	step := int64(512 << 10)
	if total > 0 && total/100 > step {
		step = total / 100
	}
	return &countingReader{r: r, s: s, id: id, status: status, total: total, step: step}
}

type countingReader struct {
	r              io.Reader
	s              Sink
	id, status     string
	n, total, last int64
	step           int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n-c.last >= c.step || (err == io.EOF && c.n != c.last) {
		c.last = c.n
		c.s.Send(Bytes(c.id, c.status, c.n, c.total))
	}
	return n, err
}
