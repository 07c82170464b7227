package cgroups

import (
	"encoding/json"
	"reflect"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWithoutUnset(t *testing.T) {
	tests := []struct {
		name string
		in   *rspec.LinuxResources
		want *rspec.LinuxResources
	}{
		{name: "nil", in: nil, want: nil},
		{
			name: "docker's defaults drop out",
			in: &rspec.LinuxResources{
				Memory:  &rspec.LinuxMemory{DisableOOMKiller: ptr(false)},
				CPU:     &rspec.LinuxCPU{Shares: ptr[uint64](0)},
				BlockIO: &rspec.LinuxBlockIO{Weight: ptr[uint16](0)},
			},
			want: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{DisableOOMKiller: ptr(false)}},
		},
		{
			name: "docker update's zeros drop out, set values stay",
			in: &rspec.LinuxResources{
				CPU: &rspec.LinuxCPU{Shares: ptr[uint64](512), Period: ptr[uint64](0), Quota: ptr[int64](0),
					RealtimePeriod: ptr[uint64](0), RealtimeRuntime: ptr[int64](0), Cpus: "0"},
				BlockIO: &rspec.LinuxBlockIO{Weight: ptr[uint16](0), LeafWeight: ptr[uint16](10)},
			},
			want: &rspec.LinuxResources{
				CPU:     &rspec.LinuxCPU{Shares: ptr[uint64](512), Cpus: "0"},
				BlockIO: &rspec.LinuxBlockIO{LeafWeight: ptr[uint16](10)},
			},
		},
		{
			name: "throttles keep block I/O",
			in: &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{Weight: ptr[uint16](0),
				ThrottleReadBpsDevice: []rspec.LinuxThrottleDevice{{Rate: 1}}}},
			want: &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{
				ThrottleReadBpsDevice: []rspec.LinuxThrottleDevice{{Rate: 1}}}},
		},
		{
			name: "-1 is a value, not unset",
			in:   &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Quota: ptr[int64](-1)}},
			want: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Quota: ptr[int64](-1)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := json.Marshal(tt.in)
			got := withoutUnset(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if after, _ := json.Marshal(tt.in); string(after) != string(before) {
				t.Fatalf("input changed: %s, was %s", after, before)
			}
		})
	}
}
