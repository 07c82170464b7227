package containers

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/snapshots"
	"github.com/xrt-dev/xrt/shim/client"
)

// errDaemonDown is the error of a run whose shim died with the daemon
// away and left no exit status.
var errDaemonDown = errors.New("the container's shim died while the daemon was down and left no exit status")

// restore finds the containers again after a daemon start: a container
// whose shim answers is adopted as it runs (never restarted); one whose
// shim is gone gets its exit recorded, its leftovers released and its
// restart policy applied; containers the policy restarts at daemon start
// are started. Leftovers without a record (crashed creates, removes cut
// short) are deleted.
func (m *Manager) restore(ctx context.Context) error {
	found, err := client.Recover(ctx, m.shimRoot())
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for id := range m.byID {
		known[shimName(id)] = true
	}
	shims := map[string]client.Recovered{}
	for _, r := range found {
		if !known[filepath.Base(r.Dir)] {
			m.dropOrphanShim(ctx, r)
			continue
		}
		shims[filepath.Base(r.Dir)] = r
	}
	for _, c := range m.list() {
		r, ok := shims[shimName(c.ID)]
		switch {
		case c.State.Status == types.StateRemoving || c.State.Status == types.StateDead:
			if err := m.remove(c, false); err != nil {
				m.log.Warn("finishing a removal", "id", c.ID, "err", err)
			}
		case ok && r.Shim != nil:
			st, err := r.Shim.State(ctx)
			if err == nil && st.Exit != nil {
				// It exited while the daemon was away; the shim kept the
				// status for us.
				c.mu.Lock()
				c.shim = r.Shim
				c.mu.Unlock()
				m.handleExit(c, r.Shim, *st.Exit, nil)
				continue
			}
			m.adopt(c, r.Shim)
		case c.State.Running() || ok:
			ex := client.ExitStatus{ExitCode: 255, ExitedAt: time.Now().UTC()}
			var waitErr error = errDaemonDown
			if ok && r.Exit != nil {
				ex, waitErr = *r.Exit, nil
			}
			m.handleExit(c, nil, ex, waitErr)
		default:
			m.dropLeftovers(c)
			if c.State.StartedBefore && (c.State.Status == types.StateRestarting || policyRestarts(c, true)) {
				m.wg.Add(1)
				go func() {
					defer m.wg.Done()
					c.op.Lock()
					defer c.op.Unlock()
					if err := m.start(c); err != nil {
						m.log.Warn("restart policy at daemon start: the container did not start", "id", c.ID, "err", err)
					}
				}()
			}
		}
	}
	m.dropOrphans()
	return nil
}

// adopt takes a running container back under supervision.
func (m *Manager) adopt(c *Container, sh *client.Shim) {
	proc := readProcess(m.bundleDir(c.ID))
	c.mu.Lock()
	c.shim, c.process = sh, proc
	if !c.State.Running() {
		// The daemon died between the shim's start and the record's save.
		c.State.Status = types.StateRunning
		c.State.StartedAt = time.Now().UTC()
		c.State.StartedBefore = true
	}
	c.State.Pid = sh.Pid
	c.exited = make(chan struct{})
	c.released = make(chan struct{})
	for _, ep := range m.cfg.Network.Endpoints(c.ID) {
		var aliases []string
		if old := c.Networks[ep.NetworkName]; old != nil {
			aliases = old.Aliases
		}
		c.Networks[ep.NetworkName] = endpointSettings(ep, aliases)
		if len(ep.Ports) > 0 {
			c.Ports = publishedPorts(c.Config, ep.Ports)
		}
	}
	if c.NetNSPath == "" && c.HostConfig.NetworkMode != netHost {
		c.NetNSPath = m.netnsPath(c.ID)
	}
	mps := append([]MountPoint(nil), c.MountPoints...)
	m.startHealthLocked(c, sh)
	m.saveLocked(c)
	c.mu.Unlock()
	// The volume store counts its users again.
	for _, mp := range mps {
		if mp.Type == mountVolume && mp.Name != "" {
			if _, err := m.cfg.Volumes.Mount(mp.Name, c.ID); err != nil {
				m.log.Warn("volume of a running container", "id", c.ID, "volume", mp.Name, "err", err)
			}
		}
	}
	m.wg.Add(1)
	go m.monitor(c, sh)
}

// readProcess reads the OCI process of a running container's bundle.
func readProcess(bundleDir string) *rspec.Process {
	b, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		return nil
	}
	var s rspec.Spec
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return s.Process
}

// dropLeftovers releases what a start cut short by a crash left of a
// container that does not run.
func (m *Manager) dropLeftovers(c *Container) {
	_, err := os.Stat(m.bundleDir(c.ID))
	_, nerr := os.Stat(m.netnsPath(c.ID))
	if err == nil || nerr == nil || len(m.cfg.Network.Endpoints(c.ID)) > 0 {
		m.runtime(context.Background(), c, nil, "delete", "--force", c.ID)
		m.teardown(c)
	}
}

// dropOrphanShim stops a shim whose container has no record (a create or
// remove cut short) and deletes its state.
func (m *Manager) dropOrphanShim(ctx context.Context, r client.Recovered) {
	if r.Shim != nil {
		r.Shim.Kill(ctx, syscall.SIGKILL, true)
		if _, err := r.Shim.Wait(ctx); err == nil {
			r.Shim.Shutdown(ctx)
		}
	}
	// The runtime knows the container by its whole ID, which only an
	// intact shim.json gives.
	if id := r.ID; len(id) == 64 {
		m.runtime(ctx, &Container{ID: id}, nil, "delete", "--force", id)
	}
	os.RemoveAll(r.Dir)
}

// dropOrphans deletes what belongs to no recorded container: data
// directories without a record, bundles, network namespaces and
// writable snapshots.
func (m *Manager) dropOrphans() {
	known := func(id string) bool {
		m.mu.RLock()
		defer m.mu.RUnlock()
		_, ok := m.byID[id]
		return ok
	}
	dataDir := filepath.Join(m.cfg.DataRoot, "containers")
	if ents, err := os.ReadDir(dataDir); err == nil {
		for _, e := range ents {
			if e.IsDir() && !known(e.Name()) {
				if _, err := os.Stat(filepath.Join(dataDir, e.Name(), configName)); errors.Is(err, os.ErrNotExist) {
					os.RemoveAll(filepath.Join(dataDir, e.Name()))
				}
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(m.cfg.ExecRoot, "containers")); err == nil {
		for _, e := range ents {
			if !known(e.Name()) {
				removeBundle(m.bundleDir(e.Name()))
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(m.cfg.ExecRoot, "netns")); err == nil {
		for _, e := range ents {
			if !known(e.Name()) {
				if err := m.cfg.Network.Release(context.Background(), e.Name(), m.netnsPath(e.Name())); err != nil {
					m.log.Warn("releasing an orphaned network namespace", "id", e.Name(), "err", err)
				}
			}
		}
	}
	sn := m.cfg.Layers.Snapshotter()
	var orphans []string
	sn.Walk(func(info snapshots.Info) error {
		if id, ok := strings.CutPrefix(info.Key, "ctr-"); ok && !known(id) {
			orphans = append(orphans, info.Key)
		}
		return nil
	})
	for _, key := range orphans {
		if err := sn.Remove(key); err != nil && !errdefs.IsNotFound(err) {
			m.log.Warn("removing an orphaned container snapshot", "key", key, "err", err)
		}
	}
}
