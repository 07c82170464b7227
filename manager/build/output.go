package build

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// output writes a build's progress as Docker's JSON messages: {"stream":
// ...} lines, the image ID as {"aux":{"ID":...}}. It always writes all of
// it; for a quiet build the server holds the lines back and shows them
// only when the build fails, as dockerd does.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

func newOutput(w io.Writer) *output { return &output{w: w} }

func (o *output) message(m types.JSONMessage) {
	b, _ := json.Marshal(m)
	o.write(append(b, '\n'))
}

func (o *output) write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(b)
}

func (o *output) printf(format string, args ...any) {
	o.message(types.JSONMessage{Stream: fmt.Sprintf(format, args...)})
}

// aux sends the built image's ID.
func (o *output) aux(id string) {
	raw := json.RawMessage(fmt.Sprintf(`{"ID":%q}`, id))
	o.message(types.JSONMessage{Aux: &raw})
}

// stream is a writer whose writes become stream messages (a RUN's output).
func (o *output) stream() io.Writer { return streamWriter{o} }

// progress is where a pull during the build writes its JSON messages.
func (o *output) progress() io.Writer { return writerFunc(o.write) }

type streamWriter struct{ o *output }

func (s streamWriter) Write(p []byte) (int, error) {
	s.o.message(types.JSONMessage{Stream: string(p)})
	return len(p), nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
