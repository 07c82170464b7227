package containers

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/xrt-dev/xrt/bundle"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// defaultStopTimeout is how long stop waits after the stop signal.
const defaultStopTimeout = 10

// ContainerStop sends the stop signal, then SIGKILL after the timeout. The
// restart policy does not restart a stopped container.
func (m *Manager) ContainerStop(ctx context.Context, name string, timeout *int) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	return m.stop(ctx, c, timeout)
}

// stop is ContainerStop with c.op held.
func (m *Manager) stop(ctx context.Context, c *Container, timeout *int) error {
	c.mu.Lock()
	if c.State.Status == types.StateRestarting {
		m.cancelRestartLocked(c)
		c.State.ManuallyStopped = true
		m.saveLocked(c)
		c.mu.Unlock()
		m.event(c, "stop", nil)
		return nil
	}
	if !c.State.Running() || c.shim == nil {
		c.mu.Unlock()
		return errdefs.NotModified("container %s is not running", c.ID)
	}
	c.State.ManuallyStopped = true
	c.stopping = true
	sh, exited := c.shim, c.exited
	sig := stopSignal(c)
	wait := time.Duration(stopTimeout(c, timeout)) * time.Second
	if err := m.resumeIfPaused(c); err != nil {
		m.log.Warn("unpausing a container to stop it", "id", c.ID, "err", err)
	}
	m.saveLocked(c)
	c.mu.Unlock()

	m.event(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	if err := sh.Kill(ctx, sig, false); err != nil && !closed(exited) {
		m.log.Debug("stop signal", "id", c.ID, "err", err)
	}
	if wait < 0 {
		wait = 1<<63 - 1
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-exited:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		m.event(c, "kill", map[string]string{"signal": strconv.Itoa(int(syscall.SIGKILL))})
		if err := sh.Kill(ctx, syscall.SIGKILL, true); err != nil && !closed(exited) {
			m.log.Warn("killing a container that ignored its stop signal", "id", c.ID, "err", err)
		}
		select {
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.event(c, "stop", nil)
	return nil
}

// stopSignal is the container's stop signal (SIGTERM unless set). The
// caller holds c.mu.
func stopSignal(c *Container) syscall.Signal {
	if c.Config != nil && c.Config.StopSignal != "" {
		if sig, err := bundle.ParseSignal(c.Config.StopSignal); err == nil {
			return sig
		}
	}
	return syscall.SIGTERM
}

// stopTimeout is the seconds stop waits: the request's, else the
// container's StopTimeout, else 10; negative is forever.
func stopTimeout(c *Container, req *int) int {
	switch {
	case req != nil:
		return *req
	case c.Config != nil && c.Config.StopTimeout != nil:
		return *c.Config.StopTimeout
	}
	return defaultStopTimeout
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// ContainerKill sends a signal ("" is SIGKILL) to the container's init.
// As with Docker, a killed container counts as stopped by hand for
// "unless-stopped" (not for "always", which restarts it).
func (m *Manager) ContainerKill(ctx context.Context, name, signal string) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = bundle.ParseSignal(signal); err != nil {
			return errdefs.Invalid("Invalid signal: %s", signal)
		}
	}
	c.mu.Lock()
	if c.State.Status == types.StateRestarting {
		m.cancelRestartLocked(c)
		c.State.ManuallyStopped = true
		m.saveLocked(c)
		c.mu.Unlock()
		return nil
	}
	if !c.State.Running() || c.shim == nil {
		c.mu.Unlock()
		return errdefs.Conflict("Cannot kill container: %s: Container %s is not running", name, c.ID)
	}
	sh, exited := c.shim, c.exited
	c.State.ManuallyStopped = true
	if err := m.resumeIfPaused(c); err != nil {
		m.log.Warn("unpausing a container to kill it", "id", c.ID, "err", err)
	}
	m.saveLocked(c)
	c.mu.Unlock()
	if err := sh.Kill(ctx, sig, false); err != nil && !closed(exited) {
		return errdefs.Conflict("Cannot kill container: %s: %v", name, err)
	}
	m.event(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// ContainerRestart stops the container if it runs, then starts it.
func (m *Manager) ContainerRestart(ctx context.Context, name string, timeout *int) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if err := m.stop(ctx, c, timeout); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	c.mu.Lock()
	m.cancelRestartLocked(c)
	c.State.ManuallyStopped = false
	c.RestartCount, c.restartDelay = 0, 0
	c.mu.Unlock()
	if err := m.start(c); err != nil {
		return err
	}
	m.event(c, "restart", nil)
	return nil
}

// ContainerRemove removes a stopped container (a running one with force:
// killed first): its snapshot, directories, name and, with
// removeVolumes, its anonymous volumes.
func (m *Manager) ContainerRemove(ctx context.Context, name string, force, removeVolumes bool) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if !m.registered(c) {
		return errdefs.NotFound("No such container: %s", name)
	}
	c.mu.Lock()
	switch {
	case c.State.Running() && !force:
		c.mu.Unlock()
		return errdefs.Conflict("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.ID)
	case c.State.Status == types.StateRestarting && !force:
		c.mu.Unlock()
		return errdefs.Conflict("You cannot remove a restarting container %s. Stop the container before attempting removal or force remove", c.ID)
	}
	m.cancelRestartLocked(c)
	sh, exited, released := c.shim, c.exited, c.released
	running := c.State.Running() && sh != nil
	if running {
		c.stopping = true
		if err := m.resumeIfPaused(c); err != nil {
			m.log.Warn("unpausing a container to remove it", "id", c.ID, "err", err)
		}
	}
	c.mu.Unlock()
	if running {
		if err := sh.Kill(ctx, syscall.SIGKILL, true); err != nil && !closed(exited) {
			m.log.Warn("killing a container to remove it", "id", c.ID, "err", err)
		}
		select {
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			return errdefs.Conflict("could not kill running container %s, cannot remove", c.ID)
		}
	}
	// The last run's cgroup and runtime state go first: once rm answers,
	// nothing of the container is left.
	select {
	case <-released:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		m.log.Warn("removing a container whose runtime state is not deleted yet", "id", c.ID)
	}
	return m.remove(c, removeVolumes)
}

// remove deletes a container that does not run. The caller holds c.op.
func (m *Manager) remove(c *Container, removeVolumes bool) error {
	return m.removeContainer(c, removeVolumes, false)
}

// removeContainer is remove; with background the container's files go
// after it returns (--rm: `run --rm` waits for the removal, not for the
// files), and a crash before they are gone leaves a record "removing"
// that the next daemon's restore finishes.
func (m *Manager) removeContainer(c *Container, removeVolumes, background bool) error {
	c.mu.Lock()
	c.State.Status = types.StateRemoving
	m.saveLocked(c)
	m.notifyLocked(c)
	id, key := c.ID, c.SnapshotKey
	var anonymous []string
	for _, mp := range c.MountPoints {
		if mp.Type == mountVolume && mp.Anonymous && mp.Name != "" {
			anonymous = append(anonymous, mp.Name)
		}
	}
	c.mu.Unlock()

	m.mu.Lock()
	delete(m.byID, id)
	if m.byName[c.Name] == id {
		delete(m.byName, c.Name)
	}
	m.mu.Unlock()
	m.dropExecs(id)
	if background {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.removeFiles(id, key)
		}()
	} else {
		m.removeFiles(id, key)
	}
	if removeVolumes {
		for _, v := range anonymous {
			if err := m.cfg.Volumes.Remove(v, false); err != nil && !errdefs.IsNotFound(err) {
				m.log.Warn("removing an anonymous volume", "container", id, "volume", v, "err", err)
			}
		}
	}
	m.event(c, "destroy", nil)
	c.mu.Lock()
	close(c.removed)
	m.notifyLocked(c)
	c.mu.Unlock()
	return nil
}

// removeFiles deletes a removed container's writable layer, bundle,
// shim state and directory (its record last).
func (m *Manager) removeFiles(id, key string) {
	if key != "" {
		if err := m.cfg.Layers.Snapshotter().Remove(key); err != nil && !errdefs.IsNotFound(err) {
			m.log.Warn("removing a container's file system", "id", id, "err", err)
		}
	}
	removeBundle(m.bundleDir(id))
	os.RemoveAll(m.shimDir(id))
	if err := os.RemoveAll(m.dir(id)); err != nil {
		m.log.Warn("removing a container's directory", "id", id, "err", err)
	}
}

// saveLocked saves c, logging a failure. The caller holds c.mu.
func (m *Manager) saveLocked(c *Container) {
	if err := m.save(c); err != nil {
		m.log.Warn("saving a container", "id", c.ID, "err", err)
	}
}

// ContainerWait waits for condition: "not-running" (the default: returns
// at once for a container that does not run), "next-exit" or "removed".
func (m *Manager) ContainerWait(ctx context.Context, name, condition string) (<-chan types.ContainerWaitResponse, error) {
	c, err := m.get(name)
	if err != nil {
		return nil, err
	}
	switch condition {
	case "", "not-running", "next-exit", "removed":
	default:
		return nil, errdefs.Invalid("invalid condition: %q", condition)
	}
	c.mu.Lock()
	first := c.exited
	c.mu.Unlock()
	out := make(chan types.ContainerWaitResponse, 1)
	go func() {
		defer close(out)
		var target chan struct{}
		for {
			c.mu.Lock()
			changed, removed := c.changed, c.removed
			done := false
			switch condition {
			case "removed":
				done = closed(removed)
			case "next-exit":
				if target == nil && (c.State.Running() || c.exited != first) {
					target = c.exited
				}
				done = closed(removed) || (target != nil && closed(target))
			default:
				done = closed(removed) || (!c.State.Running() && c.State.Status != types.StateRestarting)
			}
			resp := types.ContainerWaitResponse{StatusCode: int64(c.State.ExitCode)}
			c.mu.Unlock()
			if done {
				out <- resp
				return
			}
			select {
			case <-changed:
			case <-target:
			case <-removed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
