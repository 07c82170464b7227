package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// output writes a build's progress as Docker's JSON messages: {"stream":
// ...} lines, the image ID as {"aux":{"ID":...}}. Quiet builds hold the
// lines back and send them only when the build fails, as Docker does.
type output struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
	held  bytes.Buffer
}

func newOutput(w io.Writer, quiet bool) *output { return &output{w: w, quiet: quiet} }

func (o *output) message(m types.JSONMessage, always bool) {
	b, _ := json.Marshal(m)
	b = append(b, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.quiet && !always {
		o.held.Write(b)
		return
	}
	_, _ = o.w.Write(b)
}

func (o *output) printf(format string, args ...any) {
	o.message(types.JSONMessage{Stream: fmt.Sprintf(format, args...)}, false)
}

// aux sends the built image's ID.
func (o *output) aux(id string) {
	raw := json.RawMessage(fmt.Sprintf(`{"ID":%q}`, id))
	o.message(types.JSONMessage{Aux: &raw}, true)
}

// done ends a quiet build with the image ID alone.
func (o *output) done(id string) {
	if o.quiet {
		o.message(types.JSONMessage{Stream: id + "\n"}, true)
	}
}

// failed sends what a quiet build held back, so the user sees the step
// that failed.
func (o *output) failed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.quiet && o.held.Len() > 0 {
		_, _ = o.w.Write(o.held.Bytes())
		o.held.Reset()
	}
}

// stream is a writer whose writes become stream messages (a RUN's output).
func (o *output) stream() io.Writer { return streamWriter{o} }

// progress is where a pull during the build writes its JSON messages.
func (o *output) progress() io.Writer { return progressWriter{o} }

type streamWriter struct{ o *output }

func (s streamWriter) Write(p []byte) (int, error) {
	s.o.message(types.JSONMessage{Stream: string(p)}, false)
	return len(p), nil
}

// progressWriter passes JSON messages through (held back when quiet).
type progressWriter struct{ o *output }

func (p progressWriter) Write(b []byte) (int, error) {
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	if p.o.quiet {
		p.o.held.Write(b)
		return len(b), nil
	}
	return p.o.w.Write(b)
}
