package container

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/cgroups"
	"github.com/xrt-dev/xrt/runtime/hooks"
)

// Delete removes a stopped (or created) container: init is killed if it
// still waits for start, poststop hooks run and the state goes. With force a
// running container is killed first.
func (c *Container) Delete(force bool) error {
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	// Loaded while a create held the lock: read what it wrote.
	if c.Pid == 0 {
		if fresh, err := Load(filepath.Dir(c.dir), c.ID); err == nil {
			c.State = fresh.State
		}
	}
	st := c.Status()
	switch st {
	case rspec.StateStopped, rspec.StateCreated:
	case rspec.StateCreating:
		// We hold the lock, so no create is running: a crashed one left this.
		return os.RemoveAll(c.dir)
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s: it is %s (use --force): %w", c.ID, st, ErrState)
		}
	}
	// Without a pid namespace, processes can outlive init: the cgroup finds
	// them. With one, killing init makes the kernel kill the rest.
	if !c.OwnPidNS && c.CgroupPath != "" {
		_ = c.signalCgroup(unix.SIGKILL)
	} else if st != rspec.StateStopped && c.Pid != 0 {
		_ = c.signal(unix.SIGKILL)
		if st == StatePaused {
			_ = c.thaw() // the kill reaches frozen processes only once thawed
		}
	}
	if st != rspec.StateStopped && c.Pid != 0 {
		if err := c.waitExit(10 * time.Second); err != nil {
			return err
		}
	}
	if c.CgroupPath != "" {
		m, err := cgroups.Load(c.CgroupPath)
		if err == nil {
			err = m.Delete()
		}
		if err != nil {
			return fmt.Errorf("container %s: remove cgroup: %w", c.ID, err)
		}
	}
	if c.Hooks != nil {
		if err := hooks.RunAll("poststop", c.Hooks.Poststop, c.hookState(rspec.StateStopped)); err != nil {
			slog.Warn(err.Error())
		}
	}
	slog.Debug("deleted", "id", c.ID)
	return os.RemoveAll(c.dir)
}
