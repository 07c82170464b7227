package build

import (
	"reflect"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestHostConfig(t *testing.T) {
	ul := []*types.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}
	tests := []struct {
		name string
		opts types.BuildOptions
		want *types.HostConfig
	}{
		{name: "defaults", want: &types.HostConfig{NetworkMode: "bridge"}},
		{name: "all", opts: types.BuildOptions{NetworkMode: "host", Memory: 1 << 30, MemorySwap: -1, CPUShares: 2, CPUPeriod: 10000,
			CPUQuota: 5000, CpusetCpus: "0", CpusetMems: "0", CgroupParent: "p", ShmSize: 1 << 20, Ulimits: ul, ExtraHosts: []string{"a:1.2.3.4"}},
			want: &types.HostConfig{NetworkMode: "host", ShmSize: 1 << 20, ExtraHosts: []string{"a:1.2.3.4"},
				Resources: types.Resources{Memory: 1 << 30, MemorySwap: -1, CPUShares: 2, CPUPeriod: 10000, CPUQuota: 5000,
					CpusetCpus: "0", CpusetMems: "0", CgroupParent: "p", Ulimits: ul}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bd := &build{opts: tt.opts}
			if got := bd.hostConfig(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("hostConfig = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
