package containers

import (
	"context"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// Docker's restart back-off: 100 ms, doubled at each restart up to a
// minute, back to the start after a run of at least 10 s.
const (
	firstRestartDelay = 100 * time.Millisecond
	maxRestartDelay   = time.Minute
	resetRestartAfter = 10 * time.Second
)

// Restart policy names.
const (
	policyAlways        = "always"
	policyUnlessStopped = "unless-stopped"
	policyOnFailure     = "on-failure"
)

// restartDecisionLocked applies the restart policy to the run that just
// ended and returns whether to restart and after how long. A run ended by
// stop or remove, or by the daemon's shutdown, is not restarted; a kill
// counts as a manual stop for unless-stopped only, as with Docker. The
// caller holds c.mu.
func (m *Manager) restartDecisionLocked(c *Container) (bool, time.Duration) {
	if c.stopping || m.ctx.Err() != nil || !policyRestarts(c, false) {
		return false, 0
	}
	if c.State.FinishedAt.Sub(c.State.StartedAt) >= resetRestartAfter {
		c.restartDelay = 0
	}
	if c.restartDelay == 0 {
		c.restartDelay = firstRestartDelay
	} else {
		c.restartDelay = min(2*c.restartDelay, maxRestartDelay)
	}
	return true, c.restartDelay
}

// policyRestarts reports whether the container's policy restarts it after
// its last exit; atDaemonStart is the daemon's start, when "always"
// restarts even a container stopped by hand.
func policyRestarts(c *Container, atDaemonStart bool) bool {
	p := c.HostConfig.RestartPolicy
	switch p.Name {
	case policyAlways:
		return true
	case policyUnlessStopped:
		return !c.State.ManuallyStopped
	case policyOnFailure:
		if atDaemonStart && c.State.ManuallyStopped {
			return false
		}
		return c.State.ExitCode != 0 && (p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// restartAfter starts the container again after delay, unless a user
// stop, start or remove (or the daemon's shutdown) cancels it first.
func (m *Manager) restartAfter(ctx context.Context, c *Container, delay time.Duration) {
	defer m.wg.Done()
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return
	}
	c.op.Lock()
	defer c.op.Unlock()
	c.mu.Lock()
	if ctx.Err() != nil || c.State.Status != types.StateRestarting {
		c.mu.Unlock()
		return
	}
	c.cancelRestart = nil
	c.RestartCount++
	c.mu.Unlock()
	if err := m.start(c); err != nil {
		m.log.Warn("restart policy: the container did not start", "id", c.ID, "err", err)
		c.mu.Lock()
		if c.State.Status == types.StateRestarting {
			c.State.Status = types.StateExited
			m.saveLocked(c)
			m.notifyLocked(c)
		}
		c.mu.Unlock()
	}
}

// cancelRestartLocked cancels a pending policy restart; the container is
// then simply exited. The caller holds c.mu.
func (m *Manager) cancelRestartLocked(c *Container) {
	if c.cancelRestart != nil {
		c.cancelRestart()
		c.cancelRestart = nil
	}
	if c.State.Status == types.StateRestarting {
		c.State.Status = types.StateExited
		m.notifyLocked(c)
	}
}
