package cgroups

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPlanV2(t *testing.T) {
	current := func() string { return "25000" }
	tests := []struct {
		name  string
		r     *rspec.LinuxResources
		res   cgroup2.Resources
		files []fileValue
		needs []string // controllers, in order
		err   string
	}{
		{
			name:  "cpu shares, quota and period, cpuset",
			r:     &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0", Mems: "0"}},
			res:   cgroup2.Resources{CPU: &cgroup2.CPU{Weight: ptr[uint64](39), Max: "50000 100000", Cpus: "0", Mems: "0"}},
			needs: []string{"cpu", "cpuset"},
		},
		{
			name:  "period alone keeps the quota",
			r:     &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Period: ptr[uint64](200000)}},
			res:   cgroup2.Resources{CPU: &cgroup2.CPU{Max: "25000 200000"}},
			needs: []string{"cpu"},
		},
		{
			name:  "unlimited quota, idle and burst",
			r:     &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Quota: ptr[int64](-1), Idle: ptr[int64](1), Burst: ptr[uint64](1000)}},
			res:   cgroup2.Resources{CPU: &cgroup2.CPU{Max: "max"}},
			files: []fileValue{{field: "cpu.burst", name: "cpu.max.burst", value: "1000"}, {field: "cpu.idle", name: "cpu.idle", value: "1"}},
			needs: []string{"cpu"},
		},
		{
			name:  "cpuset alone needs no cpu controller",
			r:     &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Cpus: "1"}},
			res:   cgroup2.Resources{CPU: &cgroup2.CPU{Cpus: "1"}},
			needs: []string{"cpuset"},
		},
		{
			name:  "memory with swap: swap.max is the swap alone",
			r:     &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](300), Reservation: ptr[int64](50)}},
			res:   cgroup2.Resources{Memory: &cgroup2.Memory{Max: ptr[int64](100), Swap: ptr[int64](200), Low: ptr[int64](50)}},
			needs: []string{"memory"},
		},
		{
			name: "unlimited memory lifts swap where there is swap",
			r:    &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](-1)}},
			files: []fileValue{{field: "memory.limit", name: "memory.max", value: "max"},
				{field: "memory.limit", name: "memory.swap.max", value: "max", optional: true}},
			needs: []string{"memory"},
		},
		{
			name:  "unlimited swap",
			r:     &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](100), Swap: ptr[int64](-1)}},
			res:   cgroup2.Resources{Memory: &cgroup2.Memory{Max: ptr[int64](100)}},
			files: []fileValue{{field: "memory.swap", name: "memory.swap.max", value: "max"}},
			needs: []string{"memory"},
		},
		{
			name: "zero limit is unset, kernel memory ignored",
			//lint:ignore SA1019 the deprecated field must be ignored
			r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](0), Kernel: ptr[int64](100)}},
		},
		{name: "swap without limit", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Swap: ptr[int64](100)}}, err: "memory.swap"},
		{name: "swappiness", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Swappiness: ptr[uint64](10)}}, err: "memory.swappiness"},
		{name: "oom killer off", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{DisableOOMKiller: ptr(true)}}, err: "memory.disableOOMKiller"},
		{name: "no hierarchy", r: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{UseHierarchy: ptr(false)}}, err: "memory.useHierarchy"},
		{name: "realtime", r: &rspec.LinuxResources{CPU: &rspec.LinuxCPU{RealtimeRuntime: ptr[int64](1000)}}, err: "cpu.realtimeRuntime"},
		{
			name:  "pids limit",
			r:     &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: ptr[int64](10)}},
			res:   cgroup2.Resources{Pids: &cgroup2.Pids{Max: 10}},
			needs: []string{"pids"},
		},
		{
			name:  "pids zero is written",
			r:     &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: ptr[int64](0)}},
			files: []fileValue{{field: "pids.limit", name: "pids.max", value: "0"}},
			needs: []string{"pids"},
		},
		{
			name: "block io",
			r: &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{
				Weight:                  ptr[uint16](500),
				WeightDevice:            []rspec.LinuxWeightDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: ptr[uint16](10)}},
				ThrottleReadBpsDevice:   []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1000}},
				ThrottleWriteIOPSDevice: []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 5}},
			}},
			res: cgroup2.Resources{IO: &cgroup2.IO{Max: []cgroup2.Entry{{Type: cgroup2.ReadBPS, Major: 8, Minor: 0, Rate: 1000}, {Type: cgroup2.WriteIOPS, Major: 8, Minor: 16, Rate: 5}}}},
			files: []fileValue{
				{field: "blockIO.weight", name: "io.bfq.weight", value: "500", alt: &fileValue{field: "blockIO.weight", name: "io.weight", value: "4950"}},
				{field: "blockIO.weightDevice[0]", name: "io.bfq.weight", value: "8:0 10", alt: &fileValue{field: "blockIO.weightDevice[0]", name: "io.weight", value: "8:0 1"}},
			},
			needs: []string{"io"},
		},
		{name: "leaf weight", r: &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{LeafWeight: ptr[uint16](10)}}, err: "blockIO.leafWeight"},
		{
			name:  "hugetlb",
			r:     &rspec.LinuxResources{HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			res:   cgroup2.Resources{HugeTlb: &cgroup2.HugeTlb{{HugePageSize: "2MB", Limit: 4 << 20}}},
			needs: []string{"hugetlb"},
		},
		{name: "network", r: &rspec.LinuxResources{Network: &rspec.LinuxNetwork{ClassID: ptr[uint32](1)}}, err: "network"},
		{
			name: "rdma, sorted, unset limits left out",
			r: &rspec.LinuxResources{Rdma: map[string]rspec.LinuxRdma{
				"mlx5_1": {HcaObjects: ptr[uint32](100)}, "mlx4_0": {HcaHandles: ptr[uint32](2), HcaObjects: ptr[uint32](2000)}, "none": {}}},
			files: []fileValue{
				{field: "rdma", name: "rdma.max", value: "mlx4_0 hca_handle=2 hca_object=2000"},
				{field: "rdma", name: "rdma.max", value: "mlx5_1 hca_object=100"},
			},
			needs: []string{"rdma"},
		},
		{
			name: "unified, sorted, core files need no controller",
			r:    &rspec.LinuxResources{Unified: map[string]string{"memory.high": "1G", "cgroup.max.depth": "2", "io.latency": "8:0 target=10"}},
			files: []fileValue{
				{field: "unified.cgroup.max.depth", name: "cgroup.max.depth", value: "2"},
				{field: "unified.io.latency", name: "io.latency", value: "8:0 target=10"},
				{field: "unified.memory.high", name: "memory.high", value: "1G"},
			},
			needs: []string{"io", "memory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planV2(tt.r, current)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), "linux.resources."+tt.err) {
					t.Fatalf("err = %v, want one naming linux.resources.%s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.res, tt.res) {
				t.Errorf("res = %s, want %s", dump(p.res), dump(tt.res))
			}
			if !reflect.DeepEqual(p.files, tt.files) {
				t.Errorf("files = %+v, want %+v", p.files, tt.files)
			}
			var needs []string
			for _, n := range p.needs {
				needs = append(needs, n.controller)
			}
			if !reflect.DeepEqual(needs, tt.needs) {
				t.Errorf("needs = %v, want %v", needs, tt.needs)
			}
		})
	}
}

func TestPlanV2UnsupportedIsMarked(t *testing.T) {
	_, err := planV2(&rspec.LinuxResources{Network: &rspec.LinuxNetwork{ClassID: ptr[uint32](1)}}, nil)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err = %v, want ErrNotSupported", err)
	}
}

func TestWeights(t *testing.T) {
	for _, tt := range []struct{ shares, weight uint64 }{{2, 1}, {1, 1}, {1024, 39}, {262144, 10000}} {
		if got := sharesToWeight(tt.shares); got != tt.weight {
			t.Errorf("sharesToWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
	for _, tt := range []struct{ blkio, io uint64 }{{10, 1}, {1000, 10000}, {500, 4950}, {1, 1}} {
		if got := ioWeight(tt.blkio); got != tt.io {
			t.Errorf("ioWeight(%d) = %d, want %d", tt.blkio, got, tt.io)
		}
	}
}

// dump shows the pointed-to values of a Resources.
func dump(r cgroup2.Resources) string {
	var b strings.Builder
	if r.CPU != nil {
		b.WriteString("CPU{")
		if r.CPU.Weight != nil {
			b.WriteString("weight=" + itoa(*r.CPU.Weight) + " ")
		}
		b.WriteString("max=" + string(r.CPU.Max) + " cpus=" + r.CPU.Cpus + " mems=" + r.CPU.Mems + "} ")
	}
	if m := r.Memory; m != nil {
		b.WriteString("Memory{")
		for _, f := range []struct {
			n string
			v *int64
		}{{"max", m.Max}, {"swap", m.Swap}, {"low", m.Low}, {"high", m.High}, {"min", m.Min}} {
			if f.v != nil {
				b.WriteString(f.n + "=" + itoa(uint64(*f.v)) + " ")
			}
		}
		b.WriteString("} ")
	}
	if r.Pids != nil {
		b.WriteString("Pids{" + itoa(uint64(r.Pids.Max)) + "} ")
	}
	if r.IO != nil {
		b.WriteString("IO{...} ")
	}
	if r.HugeTlb != nil {
		b.WriteString("HugeTlb{...}")
	}
	return b.String()
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
