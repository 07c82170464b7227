package server

import (
	"fmt"
	"io"
	"net/http"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// containerAttach answers POST /containers/{id}/attach by taking the
// connection over: the container's output goes out on it (multiplexed
// unless the container has a tty) and, with stdin=1, its input comes in
// on it until the client half-closes.
//
// Errors the backend finds once the stream is up can only travel inside
// it, so the ones Docker reports as statuses (no such container, paused,
// restarting) are checked before the takeover.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx := r.Context()
	c, err := s.cfg.Containers.ContainerInspect(ctx, nameOf(r), false)
	if err == nil && c.State != nil {
		switch {
		case c.State.Paused:
			err = errdefs.Conflict("You cannot attach to a paused container, unpause it first")
		case c.State.Restarting:
			err = errdefs.Conflict("You cannot attach to a restarting container, wait until it is running")
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	tty := c.Config != nil && c.Config.Tty
	h, err := hijack(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	defer h.close()
	opts := AttachOptions{Logs: boolValue(r, "logs"), Stream: boolValue(r, "stream")}
	opts.Stdout, opts.Stderr = outputStreams(h.conn, tty, boolValue(r, "stdout"), boolValue(r, "stderr"))
	if boolValue(r, "stdin") {
		opts.Stdin = h.in
	}
	opts.DetachKeys = q.Get("detachKeys")
	if err := s.cfg.Containers.ContainerAttach(ctx, c.ID, opts); err != nil {
		s.log.Debug("attach ended with an error", "container", c.ID, "err", err)
		streamError(h, tty, "Error attaching: "+err.Error())
	}
}

// streamError reports an error inside a hijacked stream: as a stderr
// frame when multiplexed (Docker's clients print it), as text with a tty.
func streamError(h *hijacked, tty bool, msg string) {
	var out io.Writer = h.conn
	if !tty {
		_, out = newMux(h.conn)
	}
	_, _ = fmt.Fprintf(out, "%s\r\n", msg)
}
