package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	units "github.com/docker/go-units"
)

// message is one line of Docker's jsonmessage stream, with Docker's
// field names.
type message struct {
	Status   string          `json:"status,omitempty"`
	Detail   *detail         `json:"progressDetail,omitempty"`
	Progress string          `json:"progress,omitempty"`
	ID       string          `json:"id,omitempty"`
	ErrorMsg *errorDetail    `json:"errorDetail,omitempty"`
	Error    string          `json:"error,omitempty"`
	Aux      json.RawMessage `json:"aux,omitempty"`
	Stream   string          `json:"stream,omitempty"`
}

type detail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

type errorDetail struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

// NewJSON returns a Sink that writes each event to w as one line of
// Docker's jsonmessage stream. When w is an http.Flusher each line is
// flushed, so an API client sees progress as it happens.
func NewJSON(w io.Writer) Sink {
	j := &jsonSink{w: w}
	j.enc = json.NewEncoder(w)
	j.enc.SetEscapeHTML(false)
	j.flush, _ = w.(http.Flusher)
	return j
}

type jsonSink struct {
	mu    sync.Mutex
	w     io.Writer
	enc   *json.Encoder
	flush http.Flusher
	err   error // the first write error; later events are dropped
	wrote bool
}

// Started reports whether s has written anything yet: an API handler
// answers a failure with an HTTP error status while nothing was streamed
// and with a final {"error"} message after, as dockerd does. It is false
// for sinks that do not say.
func Started(s Sink) bool {
	st, ok := s.(interface{ Started() bool })
	return ok && st.Started()
}

// Started implements the interface Started looks for.
func (j *jsonSink) Started() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.wrote
}

func (j *jsonSink) Send(e Event) {
	m := toMessage(e)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	j.wrote = true
	if j.err = j.enc.Encode(m); j.err == nil && j.flush != nil {
		j.flush.Flush()
	}
}

func toMessage(e Event) message {
	m := message{Status: e.Status, ID: e.ID, Aux: e.Aux}
	if e.Error != "" {
		m.ErrorMsg = &errorDetail{Message: e.Error}
		m.Error = e.Error
		return m
	}
	if e.Detail || e.Current > 0 || e.Total > 0 || len(e.Aux) > 0 {
		m.Detail = &detail{Current: e.Current, Total: e.Total}
	}
	m.Progress = bar(e.Current, e.Total, serverWidth)
	return m
}

// serverWidth is the width dockerd assumes when it renders the progress
// string for a client it cannot measure: wide enough for the bar.
const serverWidth = 200

// bar renders progress as Docker does: "[=====>      ]  12.3MB/45.6MB",
// the 50-cell bar only when the line is wider than 110 columns, and the
// counts alone when the total is unknown or wrong.
func bar(current, total int64, width int) string {
	if current <= 0 && total <= 0 {
		return ""
	}
	cur := units.HumanSize(float64(current))
	if total <= 0 {
		return fmt.Sprintf("%8v", cur)
	}
	cells := int(float64(current)/float64(total)*100) / 2
	if cells > 50 {
		cells = 50
	}
	box := ""
	if width > 110 {
		box = "[" + strings.Repeat("=", cells) + ">" + strings.Repeat(" ", 50-cells) + "] "
	}
	if current > total {
		return box + fmt.Sprintf("%8v", cur)
	}
	return box + fmt.Sprintf("%8v/%v", cur, units.HumanSize(float64(total)))
}
