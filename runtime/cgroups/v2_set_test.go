package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// These run v2's Set, Freeze and Paused against a directory laid out as a
// cgroup v2 one (this host's v2 hierarchy has no controllers to write):
// they check which files get which values, without root.

func fakeV2(t *testing.T, controllers string, files ...string) (*v2, string) {
	t.Helper()
	mount := t.TempDir()
	dir := filepath.Join(mount, "c")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cgroup.controllers", controllers+"\n")
	for _, f := range files {
		write(f, "")
	}
	return &v2{mount: mount, group: "/c"}, dir
}

func readBack(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}

func TestV2SetWritesFiles(t *testing.T) {
	m, dir := fakeV2(t, "cpuset cpu io memory pids rdma",
		"memory.max", "memory.low", "memory.swap.max", "cpu.max", "cpu.weight", "cpu.idle", "cpuset.cpus",
		"pids.max", "io.weight", "io.max", "rdma.max", "memory.high")
	limit, swap, low := int64(64<<20), int64(96<<20), int64(16<<20)
	w := uint16(100)
	err := m.Set(&rspec.LinuxResources{
		Memory:  &rspec.LinuxMemory{Limit: &limit, Swap: &swap, Reservation: &low},
		CPU:     &rspec.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](20000), Period: ptr[uint64](100000), Idle: ptr[int64](1), Cpus: "0"},
		Pids:    &rspec.LinuxPids{Limit: ptr[int64](32)},
		BlockIO: &rspec.LinuxBlockIO{Weight: &w, ThrottleReadBpsDevice: []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576}}},
		Rdma:    map[string]rspec.LinuxRdma{"mlx4_0": {HcaHandles: ptr[uint32](3)}},
		Unified: map[string]string{"memory.high": "50M"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "16777216",
		"cpu.max": "20000 100000", "cpu.weight": "39", "cpu.idle": "1", "cpuset.cpus": "0",
		"pids.max": "32", "io.weight": "910", // no BFQ here: v1's 100 on io.weight's scale
		"io.max": "8:0 rbps=1048576", "rdma.max": "mlx4_0 hca_handle=3", "memory.high": "50M",
	} {
		if got := strings.TrimSpace(readBack(t, dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestV2SetUnlimited(t *testing.T) {
	m, dir := fakeV2(t, "memory pids cpu", "memory.max", "memory.swap.max", "pids.max", "cpu.max")
	if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte("30000 100000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := m.Set(&rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: ptr[int64](-1)},
		Pids:   &rspec.LinuxPids{Limit: ptr[int64](-1)},
		CPU:    &rspec.LinuxCPU{Period: ptr[uint64](50000)}, // the quota in force is kept
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"memory.max": "max", "memory.swap.max": "max", "pids.max": "max", "cpu.max": "30000 50000"} {
		if got := strings.TrimSpace(readBack(t, dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestV2SetMissingControllerWritesNothing(t *testing.T) {
	m, dir := fakeV2(t, "memory", "memory.max", "pids.max")
	err := m.Set(&rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: ptr[int64](1 << 20)},
		Pids:   &rspec.LinuxPids{Limit: ptr[int64](10)},
	})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "pids") {
		t.Fatalf("want ErrNotSupported naming pids, got %v", err)
	}
	if got := readBack(t, dir, "memory.max"); got != "" {
		t.Errorf("memory.max written (%q) although the whole set was refused", got)
	}
}

func TestV2SetRefusesV1OnlyResources(t *testing.T) {
	m, _ := fakeV2(t, "memory cpu", "memory.max")
	for name, r := range map[string]*rspec.LinuxResources{
		"memory.swappiness": {Memory: &rspec.LinuxMemory{Swappiness: ptr[uint64](10)}},
		"cpu.realtime":      {CPU: &rspec.LinuxCPU{RealtimeRuntime: ptr[int64](1000)}},
		"network":           {Network: &rspec.LinuxNetwork{ClassID: ptr[uint32](7)}},
	} {
		if err := m.Set(r); !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: want ErrNotSupported, got %v", name, err)
		}
	}
}

func TestV2FreezeFiles(t *testing.T) {
	m, dir := fakeV2(t, "", "cgroup.freeze")
	if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, dir, "cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q, want 1", got)
	}
	if p, err := m.Paused(); err != nil || !p {
		t.Errorf("Paused = %v, %v; want true", p, err)
	}
}
