package containers

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/shim/client"
)

// monitor waits for the end of a container's run and handles it. It
// returns without a word when the daemon shuts down: the container keeps
// running and the next daemon finds it again.
func (m *Manager) monitor(c *Container, sh *client.Shim) {
	defer m.wg.Done()
	ex, err := m.waitShim(sh)
	if m.ctx.Err() != nil {
		return
	}
	m.handleExit(c, sh, ex, err)
}

// waitShim waits for the container's exit status. A shim that stops
// answering without leaving one is a dead shim: its container is
// recorded as exited with 255 and the error.
func (m *Manager) waitShim(sh *client.Shim) (client.ExitStatus, error) {
	for tries := 0; ; tries++ {
		ex, err := sh.Wait(m.ctx)
		if err == nil || m.ctx.Err() != nil {
			return ex, err
		}
		if errors.Is(err, client.ErrShimGone) || tries >= 5 {
			return client.ExitStatus{ExitCode: 255, ExitedAt: time.Now().UTC()}, err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-m.ctx.Done():
			return ex, m.ctx.Err()
		}
	}
}

// handleExit records the end of a run: it lets the shim go, releases
// what the run held (network, volumes, rootfs), records the exit, and
// applies the restart policy or --rm. sh is the run's shim (nil when
// the daemon found the shim gone); waitErr says why no exit status came.
func (m *Manager) handleExit(c *Container, sh *client.Shim, ex client.ExitStatus, waitErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.mu.Lock()
	released, current := c.released, c.shim == sh
	c.mu.Unlock()
	// The runtime deletes the container (its cgroup, its state) while the
	// run's network, volumes and rootfs are released here; a restart
	// waits for both.
	deleted := make(chan struct{})
	go func() {
		defer close(deleted)
		if sh != nil && waitErr == nil {
			// It returns once the shim had the runtime delete it; a shim
			// already gone had done so.
			var shimErr *client.ShimError
			if err := sh.Shutdown(ctx); !errors.As(err, &shimErr) {
				return
			}
			m.log.Warn("container exited: the shim's delete failed; deleting with --force", "id", c.ID, "err", shimErr)
		}
		if err := m.runtime(ctx, c, nil, "delete", "--force", c.ID); err != nil {
			m.log.Warn("container exited: the runtime could not delete it", "id", c.ID, "err", err)
		}
	}()
	defer func() {
		<-deleted
		if current {
			closeOnce(released)
		}
	}()
	m.teardown(c)

	c.mu.Lock()
	if c.shim != sh {
		c.mu.Unlock()
		return // an older run
	}
	c.shim, c.process = nil, nil
	m.stopHealthLocked(c)
	st := &c.State
	st.Status, st.Pid = types.StateExited, 0
	st.ExitCode, st.OOMKilled = ex.ExitCode, ex.OOMKilled
	st.FinishedAt = ex.ExitedAt
	if st.FinishedAt.IsZero() {
		st.FinishedAt = time.Now().UTC()
	}
	st.Error = ""
	if waitErr != nil {
		st.Error = waitErr.Error()
	}
	c.clearNetworkLocked()
	restart, delay := m.restartDecisionLocked(c)
	var restartCtx context.Context
	if restart {
		st.Status = types.StateRestarting
		var cancelRestart context.CancelFunc
		restartCtx, cancelRestart = context.WithCancel(m.ctx)
		c.cancelRestart = cancelRestart
	}
	autoRemove := c.HostConfig.AutoRemove && !restart
	m.saveLocked(c)
	// The exit is on record: the shim's copy goes (before waiters wake).
	os.RemoveAll(m.shimDir(c.ID))
	close(c.exited)
	m.notifyLocked(c)
	code := st.ExitCode
	c.mu.Unlock()

	m.event(c, "die", map[string]string{"exitCode": strconv.Itoa(code)})
	switch {
	case restart:
		<-deleted
		m.wg.Add(1)
		go m.restartAfter(restartCtx, c, delay)
	case autoRemove:
		c.op.Lock()
		if m.registered(c) {
			if err := m.removeContainer(c, true, true); err != nil {
				m.log.Warn("removing a --rm container", "id", c.ID, "err", err)
			}
		}
		c.op.Unlock()
	}
}

// closeOnce closes ch unless it is closed already.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// teardown releases what a run held: its networks and netns, its
// volumes, the rootfs mount and the bundle. It can run twice (after a
// daemon restart) without harm.
func (m *Manager) teardown(c *Container) {
	c.mu.Lock()
	id, netns := c.ID, c.NetNSPath
	mps := append([]MountPoint(nil), c.MountPoints...)
	c.mu.Unlock()
	if netns == "" {
		netns = m.netnsPath(id)
	}
	var joined []string
	for _, ep := range m.cfg.Network.Endpoints(id) {
		joined = append(joined, ep.NetworkName)
	}
	// The run's processes are gone: Release frees the addresses and
	// drops the namespace, and the kernel takes the veths with it (much
	// faster than deleting them one by one).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.cfg.Network.Release(ctx, id, netns); err != nil {
		m.log.Warn("releasing the network", "id", id, "err", err)
	}
	m.releaseVolumes(id, mps)
	removeBundle(m.bundleDir(id))
	m.refreshPeers(id, joined)
}
