package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/shim/client"
)

// Docker's health check defaults and limits.
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultProbeRetries  = 3
	maxProbeOutput       = 4096
	keptProbeResults     = 5
)

// startHealthLocked starts the health checker of a run when the container
// has a health check. The caller holds c.mu, with c.process and
// c.State.StartedAt set for the run.
func (m *Manager) startHealthLocked(c *Container, sh *client.Shim) {
	hc := c.Config.Healthcheck
	if hc == nil || len(hc.Test) < 2 || hc.Test[0] == types.HealthCmdNone || c.process == nil {
		return
	}
	if c.State.Health == nil {
		c.State.Health = &types.Health{Status: types.HealthStarting, Log: []*types.HealthcheckResult{}}
	}
	ctx, cancel := context.WithCancel(m.ctx)
	c.cancelHealth = cancel
	m.wg.Add(1)
	go m.healthLoop(ctx, c, sh, *hc, c.process, c.State.StartedAt)
}

// stopHealthLocked stops the run's health checker. The caller holds c.mu.
func (m *Manager) stopHealthLocked(c *Container) {
	if c.cancelHealth != nil {
		c.cancelHealth()
		c.cancelHealth = nil
	}
}

// healthLoop probes every interval until the run ends.
func (m *Manager) healthLoop(ctx context.Context, c *Container, sh *client.Shim, hc types.HealthConfig, proc *rspec.Process, startedAt time.Time) {
	defer m.wg.Done()
	interval := orDefault(hc.Interval, defaultProbeInterval)
	timeout := orDefault(hc.Timeout, defaultProbeTimeout)
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultProbeRetries
	}
	argv := probeCommand(hc.Test)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res := probe(ctx, sh, proc, argv, timeout)
		if ctx.Err() != nil {
			return
		}
		m.recordProbe(c, sh, res, retries, startedAt.Add(hc.StartPeriod))
		t.Reset(interval)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// probeCommand is the argv of a health check's test.
func probeCommand(test []string) []string {
	if test[0] == types.HealthCmdShell {
		return []string{"/bin/sh", "-c", test[1]}
	}
	return slices.Clone(test[1:])
}

// probe runs the check as an exec in the container, with the container's
// env, user and working directory, and keeps its first 4 KiB of output.
func probe(ctx context.Context, sh *client.Shim, proc *rspec.Process, argv []string, timeout time.Duration) *types.HealthcheckResult {
	p := *proc
	p.Args, p.Terminal, p.ConsoleSize = argv, false, nil
	res := &types.HealthcheckResult{Start: time.Now().UTC()}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &cappedBuffer{max: maxProbeOutput}
	ex, err := sh.Exec(pctx, &p, client.Streams{Stdout: out, Stderr: out})
	res.End = time.Now().UTC()
	switch {
	case errors.Is(pctx.Err(), context.DeadlineExceeded):
		res.ExitCode, res.Output = -1, fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
	case err != nil:
		res.ExitCode, res.Output = -1, err.Error()
	case ex == nil:
		res.ExitCode, res.Output = -1, "the health check ended without an exit status"
	default:
		res.ExitCode, res.Output = ex.ExitCode, out.String()
	}
	return res
}

// recordProbe adds a result to the container's health: success makes it
// healthy; failures after the start period count, and retries of them in
// a row make it unhealthy.
func (m *Manager) recordProbe(c *Container, sh *client.Shim, res *types.HealthcheckResult, retries int, startPeriodEnd time.Time) {
	c.mu.Lock()
	h := c.State.Health
	if c.shim != sh || h == nil {
		c.mu.Unlock()
		return
	}
	h.Log = append(h.Log, res)
	if len(h.Log) > keptProbeResults {
		h.Log = slices.Clone(h.Log[len(h.Log)-keptProbeResults:])
	}
	old := h.Status
	switch {
	case res.ExitCode == 0:
		h.FailingStreak = 0
		h.Status = types.Healthy
	case h.Status == types.HealthStarting && res.Start.Before(startPeriodEnd):
		// Failures in the start period do not count.
	default:
		h.FailingStreak++
		if h.FailingStreak >= retries {
			h.Status = types.Unhealthy
		}
	}
	status := h.Status
	m.saveLocked(c)
	c.mu.Unlock()
	if status != old {
		m.event(c, "health_status: "+status, nil)
	}
}

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
