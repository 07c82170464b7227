package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/bundle"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ContainerUpdate changes a container's resource limits and restart
// policy (docker update): the fields set in req replace the container's,
// the result is checked as create checks it, applied to the running
// container through the runtime's update, and saved.
func (m *Manager) ContainerUpdate(ctx context.Context, name string, req *types.ContainerUpdateRequest) (*types.ContainerUpdateResponse, error) {
	if req == nil {
		return nil, errdefs.Invalid("update: no request body")
	}
	c, err := m.get(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.HostConfig == nil {
		c.HostConfig = &types.HostConfig{}
	}
	if c.State.Status == types.StateRemoving || c.State.Status == types.StateDead {
		return nil, errdefs.Conflict("Container %s is marked for removal and cannot be \"update\"", c.ID)
	}
	merged, err := mergeResources(c.HostConfig.Resources, req.Resources)
	if err != nil {
		return nil, err
	}
	policy := c.HostConfig.RestartPolicy
	if req.RestartPolicy.Name != "" {
		if c.HostConfig.AutoRemove {
			return nil, errdefs.Invalid("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		if err := restartPolicyValid(req.RestartPolicy); err != nil {
			return nil, err
		}
		policy = req.RestartPolicy
	}
	res, err := linuxResources(c.ID, merged)
	if err != nil {
		return nil, errdefs.Invalid("Cannot update container %s: %v", c.ID, err)
	}
	if c.State.Running() {
		data, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		if err := m.runtime(ctx, c, bytes.NewReader(data), "update", "-r", "-", c.ID); err != nil {
			return nil, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
		}
	}
	c.HostConfig.Resources = merged
	c.HostConfig.RestartPolicy = policy
	if err := m.save(c); err != nil {
		return nil, err
	}
	m.cfg.Events(types.ContainerEventType, "update", c.ID, m.eventAttributes(c))
	return &types.ContainerUpdateResponse{Warnings: []string{}}, nil
}

// mergeResources applies Docker's update rule: a field of upd that is set
// (non-zero) replaces the current one.
func mergeResources(cur, upd types.Resources) (types.Resources, error) {
	out := cur
	if upd.BlkioWeight != 0 {
		if upd.BlkioWeight < 10 || upd.BlkioWeight > 1000 {
			return out, errdefs.Invalid("Range of blkio weight is from 10 to 1000")
		}
		out.BlkioWeight = upd.BlkioWeight
	}
	if upd.CPUShares != 0 {
		out.CPUShares = upd.CPUShares
	}
	if upd.NanoCPUs != 0 {
		if cur.CPUPeriod != 0 || cur.CPUQuota != 0 {
			return out, errdefs.Invalid("Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota has already been set")
		}
		out.NanoCPUs = upd.NanoCPUs
	}
	if upd.CPUPeriod != 0 || upd.CPUQuota != 0 {
		if cur.NanoCPUs != 0 || upd.NanoCPUs != 0 {
			return out, errdefs.Invalid("Conflicting options: CPU Period/Quota cannot be updated as NanoCPUs has already been set")
		}
		if upd.CPUPeriod != 0 {
			out.CPUPeriod = upd.CPUPeriod
		}
		if upd.CPUQuota != 0 {
			out.CPUQuota = upd.CPUQuota
		}
	}
	if upd.CpusetCpus != "" {
		out.CpusetCpus = upd.CpusetCpus
	}
	if upd.CpusetMems != "" {
		out.CpusetMems = upd.CpusetMems
	}
	if upd.Memory != 0 {
		if cur.MemorySwap > 0 && upd.Memory > cur.MemorySwap && upd.MemorySwap == 0 {
			return out, errdefs.Invalid("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
		}
		out.Memory = upd.Memory
	}
	if upd.MemorySwap != 0 {
		out.MemorySwap = upd.MemorySwap
	}
	if upd.MemoryReservation != 0 {
		out.MemoryReservation = upd.MemoryReservation
	}
	if upd.KernelMemory != 0 {
		out.KernelMemory = upd.KernelMemory
	}
	if upd.PidsLimit != nil {
		limit := *upd.PidsLimit
		out.PidsLimit = &limit
	}
	return out, nil
}

// restartPolicyValid checks a policy's name and retry count as Docker does.
func restartPolicyValid(p types.RestartPolicy) error {
	switch p.Name {
	case "", "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return errdefs.Invalid("maximum retry count cannot be used with restart policy '%s'", p.Name)
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return errdefs.Invalid("maximum retry count cannot be negative")
		}
	default:
		return errdefs.Invalid("invalid restart policy '%s'", p.Name)
	}
	return nil
}

// linuxResources turns Docker's resources into the runtime's, with the
// checks and conversions (--cpus to a quota, swap defaults) of bundle,
// the code create uses.
func linuxResources(id string, r types.Resources) (*rspec.LinuxResources, error) {
	res, err := bundle.Resources(&bundle.Options{
		ID:     id,
		Memory: r.Memory, MemoryReservation: r.MemoryReservation, MemorySwap: r.MemorySwap,
		NanoCPUs: r.NanoCPUs, CPUShares: r.CPUShares, CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems,
		PidsLimit: r.PidsLimit,
	})
	if err != nil {
		return nil, err
	}
	if r.CPUPeriod != 0 || r.CPUQuota != 0 {
		if res.CPU == nil {
			res.CPU = &rspec.LinuxCPU{}
		}
		if r.CPUPeriod != 0 {
			p := uint64(r.CPUPeriod)
			res.CPU.Period = &p
		}
		if r.CPUQuota != 0 {
			q := r.CPUQuota
			res.CPU.Quota = &q
		}
	}
	if r.BlkioWeight != 0 {
		w := r.BlkioWeight
		res.BlockIO = &rspec.LinuxBlockIO{Weight: &w}
	}
	return res, nil
}
