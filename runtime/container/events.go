package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/cgroups"
)

// Event is one line of `xrt events`, in runc's format: "stats" with the
// usage as data, or "oom" when the kernel's OOM killer acted.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Stats returns the container's resource usage.
func (c *Container) Stats() (*cgroups.Stats, error) {
	if st := c.Status(); st == rspec.StateStopped || st == rspec.StateCreating {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st, ErrState)
	}
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	s, err := m.Stats()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	return s, nil
}

// Events emits a stats event every interval and an oom event each time
// the OOM killer acts in the container, until the container stops or ctx
// ends. A stats read that fails is logged and skipped.
func (c *Container) Events(ctx context.Context, interval time.Duration, emit func(Event) error) error {
	if interval <= 0 {
		return fmt.Errorf("events: interval %v must be positive", interval)
	}
	if st := c.Status(); st == rspec.StateStopped || st == rspec.StateCreating {
		return fmt.Errorf("container %s is %s, not running: %w", c.ID, st, ErrState)
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	exited, stop, err := c.exitNotify()
	if err != nil {
		return err
	}
	defer stop()
	ooms := make(chan struct{})
	if n, err := m.OOM(); err != nil {
		slog.Warn("events: no OOM notifications", "err", err)
	} else {
		defer n.Close()
		go func() {
			for {
				err := n.Wait()
				if err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, unix.EBADF) {
						slog.Debug("events: OOM notifier stopped", "err", err)
					}
					return
				}
				select {
				case ooms <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			return nil
		case <-ooms:
			if err := emit(Event{Type: "oom", ID: c.ID}); err != nil {
				return err
			}
		case <-tick.C:
			s, err := m.Stats()
			if err != nil {
				slog.Warn("events: stats", "id", c.ID, "err", err)
				continue
			}
			if err := emit(Event{Type: "stats", ID: c.ID, Data: s}); err != nil {
				return err
			}
		}
	}
}

// oomHint adds to a failed create's error that the OOM killer acted in
// the new cgroup: init then dies mid-protocol, which alone says little.
func (c *Container) oomHint(err error) error {
	if c.CgroupPath == "" {
		return err
	}
	m, lerr := cgroups.Load(c.CgroupPath)
	if lerr != nil {
		return err
	}
	if n, _ := m.OOMKills(); n > 0 {
		return fmt.Errorf("container init was killed by the OOM killer (linux.resources.memory.limit too low?): %w", err)
	}
	return err
}

// exitNotify returns a channel closed when init exits, through its pidfd.
func (c *Container) exitNotify() (<-chan struct{}, func(), error) {
	done := make(chan struct{})
	fd, err := c.pidfd()
	if err != nil {
		close(done)
		return done, func() {}, nil
	}
	// A second fd the poll also watches lets stop end the goroutine.
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	go func() {
		defer close(done)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(pipe[0]), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				return
			}
		}
	}()
	stop := func() {
		unix.Close(pipe[1])
		<-done
		unix.Close(pipe[0])
		unix.Close(fd)
	}
	return done, stop, nil
}
