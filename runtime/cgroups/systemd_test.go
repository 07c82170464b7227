package cgroups

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeBus records what the driver asks of systemd.
type fakeBus struct {
	version  string
	started  map[string][]sdbus.Property
	set      map[string][]sdbus.Property
	stopped  []string
	reset    []string
	startErr error
	jobState string // sent back for each job; "done" if empty
	closed   int
}

func newFakeBus() *fakeBus {
	return &fakeBus{version: `"252.19-1~deb12u1"`, started: map[string][]sdbus.Property{}, set: map[string][]sdbus.Property{}}
}

func (b *fakeBus) job(ch chan<- string) {
	s := b.jobState
	if s == "" {
		s = "done"
	}
	ch <- s
}

func (b *fakeBus) StartTransientUnitContext(_ context.Context, name, mode string, props []sdbus.Property, ch chan<- string) (int, error) {
	if b.startErr != nil {
		return 0, b.startErr
	}
	if mode != "replace" {
		return 0, errors.New("unexpected mode " + mode)
	}
	b.started[name] = props
	b.job(ch)
	return 1, nil
}

func (b *fakeBus) StopUnitContext(_ context.Context, name, _ string, ch chan<- string) (int, error) {
	if _, ok := b.started[name]; !ok {
		return 0, dbus.Error{Name: "org.freedesktop.systemd1.NoSuchUnit"}
	}
	delete(b.started, name)
	b.stopped = append(b.stopped, name)
	b.job(ch)
	return 2, nil
}

func (b *fakeBus) SetUnitPropertiesContext(_ context.Context, name string, runtime bool, props ...sdbus.Property) error {
	if !runtime {
		return errors.New("want runtime properties")
	}
	b.set[name] = append(b.set[name], props...)
	return nil
}

func (b *fakeBus) ResetFailedUnitContext(_ context.Context, name string) error {
	b.reset = append(b.reset, name)
	return nil
}

func (b *fakeBus) GetManagerProperty(string) (string, error) { return b.version, nil }
func (b *fakeBus) Close()                                    { b.closed++ }

// fakeFS records the cgroupfs side.
type fakeFS struct {
	Manager
	applied []int
	added   []int
	sets    []*rspec.LinuxResources
	deleted bool
}

func (f *fakeFS) Apply(pid int) error               { f.applied = append(f.applied, pid); return nil }
func (f *fakeFS) AddProc(pid int) error             { f.added = append(f.added, pid); return nil }
func (f *fakeFS) Set(r *rspec.LinuxResources) error { f.sets = append(f.sets, r); return nil }
func (f *fakeFS) Delete() error                     { f.deleted = true; return nil }
func (f *fakeFS) Placement() (string, []string)     { return "/should/not/be/used", nil }
func (f *fakeFS) Create() error                     { return errors.New("cgroupfs Create must not be called") }
func (f *fakeFS) Paused() (bool, error)             { return false, nil }
func (f *fakeFS) Procs() ([]int, error)             { return f.applied, nil }
func (f *fakeFS) Stats() (*Stats, error)            { return &Stats{}, nil }
func (f *fakeFS) Freeze() error                     { return nil }
func (f *fakeFS) Thaw() error                       { return nil }
func (f *fakeFS) Path() string                      { return "fs" }
func (f *fakeFS) OOMKills() (uint64, error)         { return 0, nil }
func (f *fakeFS) OOM() (*OOMNotifier, error)        { return nil, ErrNotSupported }

func fakeSystemd(t *testing.T, cgroupsPath, id string, v2 bool) (*systemdManager, *fakeBus, *fakeFS) {
	t.Helper()
	unit, slice, group, err := parseSystemdPath(cgroupsPath, id)
	if err != nil {
		t.Fatal(err)
	}
	bus, fs := newFakeBus(), &fakeFS{}
	m := &systemdManager{unit: unit, slice: slice, group: group, fs: fs, v2: v2,
		dial: func() (unitBus, error) { return bus, nil }}
	return m, bus, fs
}

func props(ps []sdbus.Property) map[string]any {
	m := make(map[string]any, len(ps))
	for _, p := range ps {
		m[p.Name] = p.Value.Value()
	}
	return m
}

func TestParseSystemdPath(t *testing.T) {
	cases := []struct {
		in, id             string
		unit, slice, group string
		err                string
	}{
		{in: "", id: "c1", unit: "xrt-c1.scope", slice: "system.slice", group: "/system.slice/xrt-c1.scope"},
		{in: "::", id: "c1", unit: "xrt-c1.scope", slice: "system.slice", group: "/system.slice/xrt-c1.scope"},
		{in: "system.slice:docker:abc", unit: "docker-abc.scope", slice: "system.slice", group: "/system.slice/docker-abc.scope"},
		{in: "machine-web-a.slice:cri:x", unit: "cri-x.scope", slice: "machine-web-a.slice",
			group: "/machine.slice/machine-web.slice/machine-web-a.slice/cri-x.scope"},
		{in: "-.slice:p:n", unit: "p-n.scope", slice: "-.slice", group: "/p-n.scope"},
		{in: "kube.slice:p:kube-pod.slice", unit: "kube-pod.slice", slice: "kube.slice", group: "/kube.slice/kube-pod.slice"},
		{in: "kube.slice:p:other.slice", err: "not a child"},
		{in: "/abs/path", err: "slice:prefix:name"},
		{in: "a:b", err: "slice:prefix:name"},
		{in: "system:p:n", err: "not a slice unit name"},
		{in: "a--b.slice:p:n", err: "invalid name"},
		{in: "-a.slice:p:n", err: "invalid name"},
		{in: "system.slice:p:../x", err: "cannot be part"},
		{in: "system.slice:p:..", err: "cannot be part"},
	}
	for _, c := range cases {
		unit, slice, group, err := parseSystemdPath(c.in, c.id)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: want error with %q, got %v", c.in, c.err, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if unit != c.unit || slice != c.slice || group != c.group {
			t.Errorf("%q: got %s %s %s, want %s %s %s", c.in, unit, slice, group, c.unit, c.slice, c.group)
		}
	}
}

func TestSystemdLifecycle(t *testing.T) {
	m, bus, fs := fakeSystemd(t, "", "ctr", false)
	if m.Path() != "systemd:/system.slice/xrt-ctr.scope" {
		t.Errorf("Path = %s", m.Path())
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if dir, tasks := m.Placement(); dir != "" || tasks != nil {
		t.Fatalf("Placement = %q %q: init must be handed to AddProc", dir, tasks)
	}
	limit, shares, pids := int64(64<<20), uint64(512), int64(100)
	res := &rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: &limit},
		CPU:    &rspec.LinuxCPU{Shares: &shares, Quota: ptr(int64(50000)), Period: ptr(uint64(100000))},
		Pids:   &rspec.LinuxPids{Limit: &pids},
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	if len(bus.started) != 0 || len(fs.sets) != 0 {
		t.Fatal("Set before the unit started must only record")
	}
	if err := m.AddProc(4242); err != nil {
		t.Fatal(err)
	}
	got := props(bus.started["xrt-ctr.scope"])
	want := map[string]any{
		"Slice": "system.slice", "Delegate": true, "PIDs": []uint32{4242},
		"MemoryLimit": uint64(64 << 20), "CPUShares": uint64(512), "TasksMax": uint64(100),
		"CPUQuotaPerSecUSec": uint64(500000), "CPUQuotaPeriodUSec": uint64(100000),
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("start property %s = %#v, want %#v", k, got[k], v)
		}
	}
	if !slices.Equal(fs.applied, []int{4242}) || len(fs.sets) != 1 || !reflect.DeepEqual(fs.sets[0], res) {
		t.Errorf("after start the cgroup files must be joined and written: applied %v, sets %d", fs.applied, len(fs.sets))
	}
	// An exec joins the cgroup directly.
	if err := m.AddProc(4343); err != nil || !slices.Equal(fs.added, []int{4343}) || len(bus.started) != 1 {
		t.Errorf("second AddProc: err %v, added %v", err, fs.added)
	}
	// update: properties, then the files.
	newLimit := int64(128 << 20)
	if err := m.Set(&rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: &newLimit}}); err != nil {
		t.Fatal(err)
	}
	if p := props(bus.set["xrt-ctr.scope"]); p["MemoryLimit"] != uint64(128<<20) || len(fs.sets) != 2 {
		t.Errorf("update: properties %v, file writes %d", p, len(fs.sets))
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bus.stopped, []string{"xrt-ctr.scope"}) || !fs.deleted {
		t.Errorf("delete: stopped %v, cgroupfs removed %v", bus.stopped, fs.deleted)
	}
	// Deleting again (the unit is gone) is not an error.
	if err := m.Delete(); err != nil {
		t.Errorf("second delete: %v", err)
	}
}

func TestSystemdV2Properties(t *testing.T) {
	limit, swap, low := int64(100<<20), int64(150<<20), int64(10<<20)
	w := uint16(500)
	r := &rspec.LinuxResources{
		Memory:  &rspec.LinuxMemory{Limit: &limit, Swap: &swap, Reservation: &low},
		CPU:     &rspec.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(-1)), Cpus: "0-1,9", Mems: "0"},
		Pids:    &rspec.LinuxPids{Limit: ptr(int64(-1))},
		BlockIO: &rspec.LinuxBlockIO{Weight: &w},
	}
	got := props(unitProperties(r, true, 252))
	want := map[string]any{
		"MemoryMax": uint64(100 << 20), "MemorySwapMax": uint64(50 << 20), "MemoryLow": uint64(10 << 20),
		"CPUWeight": sharesToWeight(1024), "CPUQuotaPerSecUSec": infinity, "TasksMax": infinity,
		"AllowedCPUs": []byte{0x03, 0x02}, "AllowedMemoryNodes": []byte{0x01}, "IOWeight": ioWeight(500),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v2 properties\n got %#v\nwant %#v", got, want)
	}
	// An old systemd gets neither the period nor the cpusets.
	old := props(unitProperties(&rspec.LinuxResources{CPU: &rspec.LinuxCPU{Period: ptr(uint64(50000)), Cpus: "0"}}, true, 240))
	if len(old) != 0 {
		t.Errorf("systemd 240: got %v", old)
	}
}

func TestQuotaPerSec(t *testing.T) {
	for _, c := range []struct {
		quota  int64
		period uint64
		want   uint64
	}{{50000, 100000, 500000}, {1000, 100000, 10000}, {33333, 100000, 340000}, {200000, 100000, 2000000}, {-1, 100000, infinity}} {
		if got := quotaPerSec(c.quota, c.period); got != c.want {
			t.Errorf("quotaPerSec(%d, %d) = %d, want %d", c.quota, c.period, got, c.want)
		}
	}
}

func TestDeviceProperties(t *testing.T) {
	rules := append([]rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, defaultRules...)
	rules = append(rules, rspec.LinuxDeviceCgroup{Allow: false, Type: "c", Major: num(1), Minor: num(9), Access: "rwm"})
	got := props(deviceProperties(rules))
	if got["DevicePolicy"] != "strict" {
		t.Errorf("DevicePolicy = %v", got["DevicePolicy"])
	}
	allow := got["DeviceAllow"].([]deviceAllow)
	for _, want := range []deviceAllow{{"char-*", "m"}, {"block-*", "m"}, {"/dev/char/1:3", "rwm"}, {"/dev/char/10:200", "rwm"}} {
		if !slices.Contains(allow, want) {
			t.Errorf("DeviceAllow %v lacks %v", allow, want)
		}
	}
	if b, err := os.ReadFile("/proc/devices"); err == nil && strings.Contains(string(b), "136 pts") {
		if !slices.Contains(allow, deviceAllow{"char-pts", "rwm"}) {
			t.Errorf("DeviceAllow %v lacks char-pts", allow)
		}
	}
	open := props(deviceProperties([]rspec.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}))
	if open["DevicePolicy"] != "auto" || len(open["DeviceAllow"].([]deviceAllow)) != 0 {
		t.Errorf("allow-all: %v", open)
	}
}

func TestSystemdStartFailure(t *testing.T) {
	m, bus, fs := fakeSystemd(t, "system.slice:xrt:bad", "", true)
	bus.jobState = "failed"
	if err := m.AddProc(1); err == nil || !strings.Contains(err.Error(), "job failed") {
		t.Errorf("want a failed job reported, got %v", err)
	}
	if len(fs.applied) != 0 {
		t.Error("the cgroup files must not be touched when the unit did not start")
	}
	bus.jobState, bus.startErr = "", dbus.Error{Name: "org.freedesktop.systemd1.UnitExists"}
	if err := m.AddProc(1); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("want unit exists, got %v", err)
	}
}

func TestNewSystemdWithoutSystemd(t *testing.T) {
	if systemdBooted() {
		t.Skip("systemd is PID 1 here")
	}
	_, err := NewSystemd("", "c1")
	if !errors.Is(err, ErrSystemd) || !strings.Contains(err.Error(), "PID 1 is not systemd") {
		t.Errorf("want ErrSystemd naming PID 1, got %v", err)
	}
}

func TestLoadSystemdPath(t *testing.T) {
	for _, bad := range []string{"systemd:", "systemd:/", "systemd:rel", "systemd:/a/../b"} {
		if _, err := Load(bad); err == nil {
			t.Errorf("Load(%q): want an error", bad)
		}
	}
}
