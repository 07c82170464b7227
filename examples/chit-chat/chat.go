package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	keepMessages = 100
	maxName      = 40
	maxText      = 1000
	// maxBody bounds a POST /messages body: the longest name and text,
	// JSON-escaped, fit many times over.
	maxBody = 16 << 10
	// heartbeat keeps an idle event stream alive through proxies.
	heartbeat = 20 * time.Second
)

//go:embed index.html
var indexHTML []byte

// Message is one line of the chat. ID counts up from 1; an event stream
// uses it to resume where it broke off.
type Message struct {
	ID   uint64    `json:"id"`
	Name string    `json:"name"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// room keeps the last messages and the event streams that wait for new ones.
type room struct {
	log io.Writer        // each message goes there as one line
	now func() time.Time // the clock, replaceable in tests

	mu       sync.Mutex
	messages []Message // the last keepMessages, oldest first
	nextID   uint64
	streams  map[chan Message]struct{}
	closed   chan struct{} // closed on shutdown: streams end
}

func newRoom(log io.Writer) *room {
	return &room{log: log, now: time.Now, nextID: 1, streams: map[chan Message]struct{}{}, closed: make(chan struct{})}
}

// close ends every event stream, so that the server's shutdown does not
// wait for browsers that never hang up.
func (r *room) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
	default:
		close(r.closed)
	}
}

func (r *room) post(name, text string) Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := Message{ID: r.nextID, Name: name, Text: text, Time: r.now().UTC().Truncate(time.Millisecond)}
	r.nextID++
	r.messages = append(r.messages, m)
	if len(r.messages) > keepMessages {
		r.messages = append([]Message(nil), r.messages[len(r.messages)-keepMessages:]...)
	}
	fmt.Fprintf(r.log, "[%s] %s: %s\n", r.now().Format("15:04:05"), oneLine(name), oneLine(text))
	for ch := range r.streams {
		select {
		case ch <- m:
		default:
			// A stream that does not keep up is dropped; the browser
			// reconnects and catches up from its last event ID.
			delete(r.streams, ch)
			close(ch)
		}
	}
	return m
}

// since returns the kept messages after the ID (all of them for 0).
func (r *room) since(id uint64) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sinceLocked(id)
}

func (r *room) sinceLocked(id uint64) []Message {
	out := []Message{}
	for _, m := range r.messages {
		if m.ID > id {
			out = append(out, m)
		}
	}
	return out
}

// subscribe returns the messages after id and a channel of the ones to
// come, in one step so that none falls between the two.
func (r *room) subscribe(id uint64) ([]Message, chan Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan Message, 64)
	r.streams[ch] = struct{}{}
	return r.sinceLocked(id), ch
}

func (r *room) unsubscribe(ch chan Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.streams[ch]; ok {
		delete(r.streams, ch)
		close(ch)
	}
}

// oneLine keeps a log entry on one line whatever the text holds.
func oneLine(s string) string {
	return strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return ' '
		}
		return c
	}, s)
}

func (r *room) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /messages", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, r.since(0))
	})
	mux.HandleFunc("POST /messages", r.postMessage)
	mux.HandleFunc("GET /events", r.events)
	return mux
}

func (r *room) postMessage(w http.ResponseWriter, req *http.Request) {
	var in struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxBody))
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody))
			return
		}
		httpError(w, http.StatusBadRequest, "bad JSON: "+err.Error()+` (send {"name":"...","text":"..."})`)
		return
	}
	name, text := strings.TrimSpace(in.Name), strings.TrimSpace(in.Text)
	if msg := checkMessage(name, text); msg != "" {
		httpError(w, http.StatusBadRequest, msg)
		return
	}
	writeJSON(w, http.StatusCreated, r.post(name, text))
}

func checkMessage(name, text string) string {
	switch {
	case name == "":
		return "name is empty"
	case len(name) > maxName:
		return fmt.Sprintf("name is %d bytes long, at most %d allowed", len(name), maxName)
	case text == "":
		return "text is empty"
	case len(text) > maxText:
		return fmt.Sprintf("text is %d bytes long, at most %d allowed", len(text), maxText)
	case !utf8.ValidString(name) || !utf8.ValidString(text):
		return "name and text must be UTF-8"
	}
	return ""
}

// events streams messages as Server-Sent Events: first those after the
// Last-Event-ID the browser sends when it reconnects (all kept ones on the
// first connection), then each new one.
func (r *room) events(w http.ResponseWriter, req *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming is not supported")
		return
	}
	lastID, _ := strconv.ParseUint(req.Header.Get("Last-Event-ID"), 10, 64)
	backlog, ch := r.subscribe(lastID)
	defer r.unsubscribe(ch)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	for _, m := range backlog {
		writeEvent(w, m)
	}
	flusher.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case m, open := <-ch:
			if !open {
				return
			}
			writeEvent(w, m)
		case <-tick.C:
			io.WriteString(w, ": keep-alive\n\n")
		case <-req.Context().Done():
			return
		case <-r.closed:
			return
		}
		flusher.Flush()
	}
}

func writeEvent(w io.Writer, m Message) {
	b, _ := json.Marshal(m)
	fmt.Fprintf(w, "id: %d\ndata: %s\n\n", m.ID, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
