package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/runtime/cgroups"
	"github.com/xrt-dev/xrt/specs"
)

// resourcesFile keeps the container's resources as `update` last left
// them; before any update they are config.json's.
const resourcesFile = "resources.json"

// Update changes the resources of a live container, as runc's update:
// the fields set in r replace the current ones (devices are not changed),
// the result is checked as a whole before anything is written, then r is
// applied to the cgroup and the result kept for the next update.
func (c *Container) Update(r *rspec.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	switch st := c.Status(); st {
	case rspec.StateCreated, rspec.StateRunning, StatePaused:
	default:
		return fmt.Errorf("cannot update container %s: it is %s: %w", c.ID, st, ErrState)
	}
	if len(r.Devices) > 0 {
		slog.Warn("update: linux.resources.devices are not changed on a live container")
		d := *r
		d.Devices = nil
		r = &d
	}
	cur, err := c.Resources()
	if err != nil {
		return err
	}
	merged := MergeResources(cur, r)
	if err := cgroups.Validate(merged); err != nil {
		return err
	}
	// The memory controller checks swap against the limit: give it the
	// limit in force when only swap changes.
	if m := r.Memory; m != nil && m.Swap != nil && m.Limit == nil && merged.Memory.Limit != nil {
		mem := *m
		mem.Limit = merged.Memory.Limit
		d := *r
		d.Memory = &mem
		r = &d
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := m.Set(r); err != nil {
		return fmt.Errorf("update container %s: %w", c.ID, err)
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.dir, resourcesFile), b, 0o600)
}

// Resources returns the container's resources: as the last update left
// them, or else as config.json gave them (without the device rules).
func (c *Container) Resources() (*rspec.LinuxResources, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, resourcesFile))
	if err == nil {
		var r rspec.LinuxResources
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("container %s: corrupt %s: %w", c.ID, resourcesFile, err)
		}
		return &r, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	r := &rspec.LinuxResources{}
	if spec, err := specs.Load(c.Bundle); err == nil && spec.Linux != nil && spec.Linux.Resources != nil {
		r = spec.Linux.Resources
		r.Devices = nil
	}
	return r, nil
}

// MergeResources returns cur with every field set in r replaced.
func MergeResources(cur, r *rspec.LinuxResources) *rspec.LinuxResources {
	out := *cur
	if m := r.Memory; m != nil {
		var mem rspec.LinuxMemory
		if cur.Memory != nil {
			mem = *cur.Memory
		}
		set(&mem.Limit, m.Limit)
		set(&mem.Reservation, m.Reservation)
		set(&mem.Swap, m.Swap)
		set(&mem.Kernel, m.Kernel) //nolint:staticcheck // kept as given, ignored when applied
		set(&mem.KernelTCP, m.KernelTCP)
		set(&mem.Swappiness, m.Swappiness)
		set(&mem.DisableOOMKiller, m.DisableOOMKiller)
		set(&mem.UseHierarchy, m.UseHierarchy)
		out.Memory = &mem
	}
	if c := r.CPU; c != nil {
		var cpu rspec.LinuxCPU
		if cur.CPU != nil {
			cpu = *cur.CPU
		}
		set(&cpu.Shares, c.Shares)
		set(&cpu.Quota, c.Quota)
		set(&cpu.Burst, c.Burst)
		set(&cpu.Period, c.Period)
		set(&cpu.RealtimeRuntime, c.RealtimeRuntime)
		set(&cpu.RealtimePeriod, c.RealtimePeriod)
		set(&cpu.Idle, c.Idle)
		if c.Cpus != "" {
			cpu.Cpus = c.Cpus
		}
		if c.Mems != "" {
			cpu.Mems = c.Mems
		}
		out.CPU = &cpu
	}
	if r.Pids != nil {
		out.Pids = r.Pids
	}
	if b := r.BlockIO; b != nil {
		var blkio rspec.LinuxBlockIO
		if cur.BlockIO != nil {
			blkio = *cur.BlockIO
		}
		set(&blkio.Weight, b.Weight)
		set(&blkio.LeafWeight, b.LeafWeight)
		for _, l := range []struct{ dst, src *[]rspec.LinuxThrottleDevice }{
			{&blkio.ThrottleReadBpsDevice, &b.ThrottleReadBpsDevice}, {&blkio.ThrottleWriteBpsDevice, &b.ThrottleWriteBpsDevice},
			{&blkio.ThrottleReadIOPSDevice, &b.ThrottleReadIOPSDevice}, {&blkio.ThrottleWriteIOPSDevice, &b.ThrottleWriteIOPSDevice},
		} {
			if *l.src != nil {
				*l.dst = *l.src
			}
		}
		if b.WeightDevice != nil {
			blkio.WeightDevice = b.WeightDevice
		}
		out.BlockIO = &blkio
	}
	if r.HugepageLimits != nil {
		out.HugepageLimits = r.HugepageLimits
	}
	if r.Network != nil {
		out.Network = r.Network
	}
	if r.Rdma != nil {
		out.Rdma = r.Rdma
	}
	if r.Unified != nil {
		u := make(map[string]string, len(cur.Unified)+len(r.Unified))
		for k, v := range cur.Unified {
			u[k] = v
		}
		for k, v := range r.Unified {
			u[k] = v
		}
		out.Unified = u
	}
	return &out
}

func set[T any](dst **T, src *T) {
	if src != nil {
		*dst = src
	}
}
