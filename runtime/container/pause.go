package container

import (
	"fmt"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/runtime/cgroups"
)

// Pause freezes every process of the container (the cgroup freezer, v1 or
// v2); its status becomes "paused" until Resume.
func (c *Container) Pause() error {
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	switch st := c.Status(); st {
	case rspec.StateRunning, rspec.StateCreated:
	default:
		return fmt.Errorf("cannot pause container %s: it is %s, not running: %w", c.ID, st, ErrState)
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := m.Freeze(); err != nil {
		_ = m.Thaw() // a partial freeze must not leave some processes stopped
		return fmt.Errorf("pause container %s: %w", c.ID, err)
	}
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	if st := c.Status(); st != StatePaused {
		return fmt.Errorf("cannot resume container %s: it is %s, not paused: %w", c.ID, st, ErrState)
	}
	return c.thaw()
}

// thaw thaws the container's cgroup: after a SIGKILL to a paused
// container, so that the signal is delivered (a v1 freezer holds even
// killed processes).
func (c *Container) thaw() error {
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := m.Thaw(); err != nil {
		return fmt.Errorf("resume container %s: %w", c.ID, err)
	}
	return nil
}

// cgroup opens the container's cgroup.
func (c *Container) cgroup() (cgroups.Manager, error) {
	if c.CgroupPath == "" {
		return nil, fmt.Errorf("container %s has no cgroup", c.ID)
	}
	m, err := cgroups.Load(c.CgroupPath)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	return m, nil
}
