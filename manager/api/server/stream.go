package server

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// stream is the body of a streaming answer (pull, push, load, import,
// events, save). It sends the status line on the first write only, so a
// backend that fails before producing anything still gets a proper error
// status; after that, errors travel inside the stream. Every write is
// flushed: the client draws progress as it comes.
type stream struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func newStream(w http.ResponseWriter, contentType string) *stream {
	return &stream{w: w, contentType: contentType}
}

func (s *stream) start() {
	if s.started {
		return
	}
	s.started = true
	s.w.Header().Set("Content-Type", s.contentType)
	s.w.WriteHeader(http.StatusOK)
}

func (s *stream) Write(p []byte) (int, error) {
	s.start()
	n, err := s.w.Write(p)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}

// message writes one JSON message line.
func (s *stream) message(m types.JSONMessage) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m)
	_, _ = s.Write(b.Bytes())
}

// finish reports err: as an error status when nothing was sent yet, as a
// JSON error message otherwise (what Docker's clients expect mid-stream).
func (s *stream) finish(err error) {
	if err == nil {
		s.start()
		return
	}
	if !s.started {
		writeError(s.w, err)
		return
	}
	s.message(types.JSONMessage{Error: &types.JSONError{Message: err.Error()}, ErrorMessage: err.Error()})
}
