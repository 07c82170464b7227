package build

import (
	"slices"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// hostConfig is the HostConfig of a RUN step's container: the build's
// network, resource limits and extra hosts, as Docker's classic builder
// gives every RUN container. None of them is part of a cache key.
func (bd *build) hostConfig() *types.HostConfig {
	o := bd.opts
	return &types.HostConfig{
		NetworkMode: bd.networkMode(),
		ExtraHosts:  slices.Clone(o.ExtraHosts),
		ShmSize:     o.ShmSize,
		Resources: types.Resources{
			Memory:       o.Memory,
			MemorySwap:   o.MemorySwap,
			CPUShares:    o.CPUShares,
			CPUPeriod:    o.CPUPeriod,
			CPUQuota:     o.CPUQuota,
			CpusetCpus:   o.CpusetCpus,
			CpusetMems:   o.CpusetMems,
			CgroupParent: o.CgroupParent,
			Ulimits:      slices.Clone(o.Ulimits),
		},
	}
}
