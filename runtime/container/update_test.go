package container

import (
	"reflect"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func p[T any](v T) *T { return &v }

func TestMergeResources(t *testing.T) {
	cur := &rspec.LinuxResources{
		Memory:  &rspec.LinuxMemory{Limit: p[int64](100), Swap: p[int64](200)},
		CPU:     &rspec.LinuxCPU{Shares: p[uint64](512), Cpus: "0-1"},
		Pids:    &rspec.LinuxPids{Limit: p[int64](10)},
		Unified: map[string]string{"memory.high": "1M"},
	}
	r := &rspec.LinuxResources{
		Memory:  &rspec.LinuxMemory{Limit: p[int64](150)},
		CPU:     &rspec.LinuxCPU{Quota: p[int64](5000), Mems: "0"},
		BlockIO: &rspec.LinuxBlockIO{Weight: p[uint16](300)},
		Unified: map[string]string{"pids.max": "5"},
	}
	got := MergeResources(cur, r)
	want := &rspec.LinuxResources{
		Memory:  &rspec.LinuxMemory{Limit: p[int64](150), Swap: p[int64](200)},
		CPU:     &rspec.LinuxCPU{Shares: p[uint64](512), Quota: p[int64](5000), Cpus: "0-1", Mems: "0"},
		Pids:    &rspec.LinuxPids{Limit: p[int64](10)},
		BlockIO: &rspec.LinuxBlockIO{Weight: p[uint16](300)},
		Unified: map[string]string{"memory.high": "1M", "pids.max": "5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if *cur.Memory.Limit != 100 || cur.CPU.Quota != nil || len(cur.Unified) != 1 {
		t.Error("MergeResources changed its input")
	}
}
