package containers

import (
	"context"
	"errors"
	"io"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/shim/client"
)

// ContainerAttach connects the streams to the container: with Logs it
// first replays the log, with Stream it then copies live output (and
// stdin, when the container keeps it open) until the container exits, the
// client types the detach keys or ctx ends.
func (m *Manager) ContainerAttach(ctx context.Context, name string, opts server.AttachOptions) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	sh, running, logPath := c.shim, c.State.Running(), c.LogPath
	if !running {
		sh = nil
	}
	openStdin, stdinOnce := false, false
	if c.Config != nil {
		openStdin, stdinOnce = c.Config.OpenStdin, c.Config.StdinOnce
	}
	attrs := m.eventAttributes(c)
	c.mu.Unlock()

	if opts.Logs {
		lo := server.LogsOptions{Stdout: opts.Stdout != nil, Stderr: opts.Stderr != nil, Tail: -1}
		err := readLog(ctx, logPath, lo, nil, func(msg server.LogMessage) error {
			w := opts.Stdout
			if msg.Stream == "stderr" {
				w = opts.Stderr
			}
			if w == nil {
				return nil
			}
			_, err := w.Write(msg.Line)
			return err
		})
		if err != nil {
			return err
		}
	}
	if opts.Stream && !running {
		// Docker's CLI attaches before it starts the container: wait
		// for the start, which holds the output for us.
		if sh, err = m.waitStarted(ctx, c); err != nil || sh == nil {
			return err
		}
	}
	if !opts.Stream || sh == nil {
		return nil
	}
	// A client that went away shows only as failed writes (it may never
	// send anything): end the attach then instead of at the exit.
	ctx, gone := context.WithCancel(ctx)
	defer gone()
	st := client.Streams{
		Stdout: endOnError(opts.Stdout, gone), Stderr: endOnError(opts.Stderr, gone),
		DetachKeys:      opts.DetachKeys,
		CloseStdinOnEOF: stdinOnce,
	}
	if openStdin {
		st.Stdin = opts.Stdin
	}
	m.cfg.Events(types.ContainerEventType, "attach", c.ID, attrs)
	_, err = sh.Attach(ctx, st)
	switch {
	case errors.Is(err, client.ErrDetached):
		m.cfg.Events(types.ContainerEventType, "detach", c.ID, attrs)
		return nil
	case err != nil && ctx.Err() != nil:
		return nil // the client went away
	case errors.Is(err, client.ErrShimGone):
		return nil // the container stopped meanwhile
	}
	return err
}

// ContainerResize sets the window size of the container's pty.
func (m *Manager) ContainerResize(ctx context.Context, name string, height, width int) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	if height <= 0 || width <= 0 {
		return errdefs.Invalid("resize: height and width must be positive")
	}
	c.mu.Lock()
	sh, running := c.shim, c.State.Running()
	c.mu.Unlock()
	if !running || sh == nil {
		return errdefs.Conflict("Container %s is not running", c.ID)
	}
	return sh.Resize(ctx, width, height)
}

// waitStarted waits until the container runs and returns its shim; nil
// when the container is removed or ctx ends first.
func (m *Manager) waitStarted(ctx context.Context, c *Container) (*client.Shim, error) {
	c.mu.Lock()
	c.attachWaiters++
	defer func() {
		c.mu.Lock()
		c.attachWaiters--
		c.mu.Unlock()
	}()
	for {
		if c.State.Running() && c.shim != nil {
			sh := c.shim
			c.mu.Unlock()
			return sh, nil
		}
		changed, removed := c.changed, c.removed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-removed:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
		c.mu.Lock()
	}
}

// endOnError wraps w so that its first failed write calls gone; nil stays
// nil (that stream is not wanted).
func endOnError(w io.Writer, gone func()) io.Writer {
	if w == nil {
		return nil
	}
	return &clientWriter{w: w, gone: gone}
}

type clientWriter struct {
	w    io.Writer
	gone func()
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.gone()
	}
	return n, err
}
