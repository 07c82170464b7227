package cgroups

import (
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    *rspec.LinuxResources
		err  string // "" when valid
	}{
		{name: "nil", r: nil},
		{name: "typical", r: &rspec.LinuxResources{
			Memory:  &rspec.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](128 << 20), Swappiness: ptr[uint64](60)},
			CPU:     &rspec.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0-1,3", Mems: "0"},
			Pids:    &rspec.LinuxPids{Limit: ptr[int64](-1)},
			BlockIO: &rspec.LinuxBlockIO{Weight: ptr[uint16](500)},
			Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rw"}},
			Unified: map[string]string{"memory.high": "1G"},
		}},
		{name: "unlimited everything", r: &rspec.LinuxResources{
			Memory: &rspec.LinuxMemory{Limit: ptr[int64](-1), Swap: ptr[int64](-1)},
			CPU:    &rspec.LinuxCPU{Quota: ptr[int64](-1)},
		}},
		{name: "memory limit below -1", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](-2)}}, err: "memory.limit"},
		{name: "swap below limit", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](50)}}, err: "memory.swap"},
		{name: "reservation below -1", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Reservation: ptr[int64](-5)}}, err: "memory.reservation"},
		{name: "swappiness", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Swappiness: ptr[uint64](101)}}, err: "memory.swappiness"},
		{name: "shares zero is unset", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Shares: ptr[uint64](0)}}},
		{name: "shares too big", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Shares: ptr[uint64](262145)}}, err: "cpu.shares"},
		{name: "quota below -1", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Quota: ptr[int64](-2)}}, err: "cpu.quota"},
		{name: "quota too small", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Quota: ptr[int64](999)}}, err: "cpu.quota"},
		{name: "period zero is unset", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Period: ptr[uint64](0)}}},
		{name: "period above 1s", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Period: ptr[uint64](1000001)}}, err: "cpu.period"},
		{name: "burst above quota", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Quota: ptr[int64](10000), Burst: ptr[uint64](20000)}}, err: "cpu.burst"},
		{name: "rt runtime above period", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{RealtimeRuntime: ptr[int64](2000), RealtimePeriod: ptr[uint64](1000)}}, err: "cpu.realtimeRuntime"},
		{name: "idle", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Idle: ptr[int64](2)}}, err: "cpu.idle"},
		{name: "cpus syntax", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Cpus: "0-"}}, err: "cpu.cpus"},
		{name: "cpus reversed range", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Cpus: "3-1"}}, err: "cpu.cpus"},
		{name: "mems syntax", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Mems: "a"}}, err: "cpu.mems"},
		{name: "pids below -1", r: &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: ptr[int64](-2)}}, err: "pids.limit"},
		{name: "pids zero is a limit", r: &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: ptr[int64](0)}}},
		{name: "blkio weight", r: &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{Weight: ptr[uint16](1001)}}, err: "blockIO.weight"},
		{name: "blkio weight device", r: &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{WeightDevice: []rspec.LinuxWeightDevice{{Weight: ptr[uint16](0)}}}}, err: "blockIO.weightDevice[0].weight"},
		{name: "throttle device", r: &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{ThrottleReadBpsDevice: []rspec.LinuxThrottleDevice{{}, {Rate: 1}}}}},
		{name: "hugepage size", r: &rspec.LinuxResources{HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2M"}}}, err: "hugepageLimits[0].pageSize"},
		{name: "hugepage size ok", r: &rspec.LinuxResources{HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}},
		{name: "net prio name", r: &rspec.LinuxResources{Network: &rspec.LinuxNetwork{Priorities: []rspec.LinuxInterfacePriority{{Name: ""}}}}, err: "network.priorities[0].name"},
		{name: "device type", r: &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Type: "x", Access: "r"}}}, err: "devices[0]: type"},
		{name: "device access", r: &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Type: "c", Access: "rx"}}}, err: "devices[0]: access"},
		{name: "device major", r: &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Type: "c", Major: ptr[int64](-3)}}}, err: "devices[0]: device number"},
		{name: "unified path", r: &rspec.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, err: "unified"},
		{name: "unified procs", r: &rspec.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, err: "unified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.r)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("valid resources refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "linux.resources."+tt.err) {
				t.Fatalf("err = %v, want one naming linux.resources.%s", err, tt.err)
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	err := Validate(&rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: ptr[int64](-2)},
		Pids:   &rspec.LinuxPids{Limit: ptr[int64](-3)},
	})
	if err == nil || !strings.Contains(err.Error(), "memory.limit") || !strings.Contains(err.Error(), "pids.limit") {
		t.Fatalf("err = %v, want both fields named", err)
	}
}
