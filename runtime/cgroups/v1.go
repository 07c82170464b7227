package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// v1 is a container's cgroup on a cgroup v1 host: one directory in each
// mounted hierarchy, and in the unified hierarchy too on a hybrid host.
type v1 struct {
	loc    location
	hybrid bool
	cg     cgroup1.Cgroup          // nil until Apply, or until first use after Load
	dirs   map[cgroup1.Name]string // absolute directory of each hierarchy cg is in
}

// unifiedHierarchy lets containerd's cgroup1 create and join the
// directory in a hybrid host's v2 hierarchy, as runc does; it holds no
// controllers.
type unifiedHierarchy struct{}

func (unifiedHierarchy) Name() cgroup1.Name   { return unifiedName }
func (unifiedHierarchy) Path(p string) string { return filepath.Join(hybridRoot, p) }

// pather is what every cgroup1 hierarchy implements.
type pather interface {
	Path(string) string
}

// hierarchies lists the v1 hierarchies mounted under /sys/fs/cgroup, by
// name as containerd's cgroup1.Default does, without reading the mount
// table, which costs more than creating the cgroup. Those not mounted
// (net_cls and the like on some hosts) are left out.
func (m *v1) hierarchies() ([]cgroup1.Subsystem, error) {
	all := []cgroup1.Subsystem{
		cgroup1.NewNamed(mountRoot, "systemd"),
		cgroup1.NewFreezer(mountRoot),
		cgroup1.NewPids(mountRoot),
		cgroup1.NewNetCls(mountRoot),
		cgroup1.NewNetPrio(mountRoot),
		cgroup1.NewPerfEvent(mountRoot),
		cgroup1.NewCpuset(mountRoot),
		cgroup1.NewCpu(mountRoot),
		cgroup1.NewCpuacct(mountRoot),
		cgroup1.NewMemory(mountRoot, cgroup1.OptionalSwap()),
		cgroup1.NewBlkio(mountRoot),
		cgroup1.NewRdma(mountRoot),
		cgroup1.NewDevices(mountRoot),
	}
	if exists(mountRoot + "/" + string(cgroup1.Hugetlb)) {
		h, err := cgroup1.NewHugetlb(mountRoot)
		if err != nil {
			return nil, fmt.Errorf("cgroup v1 hugetlb: %w", err)
		}
		all = append(all, h)
	}
	if m.hybrid {
		all = append(all, unifiedHierarchy{})
	}
	subs := all[:0]
	for _, s := range all {
		if exists(s.(pather).Path("/")) {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		return nil, fmt.Errorf("no cgroup v1 hierarchy mounted under %s", mountRoot)
	}
	return subs, nil
}

// skipMissing makes cgroup1 skip a hierarchy our own process is not in
// (possible for relative paths) instead of failing; Set reports it only
// if a resource needs it.
func skipMissing(c *cgroup1.InitConfig) error {
	c.InitCheck = cgroup1.AllowAny
	return nil
}

func (m *v1) Path() string { return m.loc.String() }

func (m *v1) use(cg cgroup1.Cgroup) {
	m.cg = cg
	m.dirs = make(map[cgroup1.Name]string)
	for _, s := range cg.Subsystems() {
		if p, ok := s.(pather); ok {
			if rel, err := m.loc.v1Path(s.Name()); err == nil {
				m.dirs[s.Name()] = p.Path(rel)
			}
		}
	}
}

// group returns the cgroup, opening an existing one after Load.
func (m *v1) group() (cgroup1.Cgroup, error) {
	if m.cg != nil {
		return m.cg, nil
	}
	cg, err := cgroup1.Load(m.loc.v1Path, cgroup1.WithHierarchy(m.hierarchies), skipMissing)
	if err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) {
			return nil, fmt.Errorf("cgroup %s: %w", m.loc, os.ErrNotExist)
		}
		return nil, fmt.Errorf("open cgroup %s: %w", m.loc, err)
	}
	m.use(cg)
	return cg, nil
}

func (m *v1) Create() error {
	// containerd creates each directory; for cpuset it first copies cpus
	// and mems down from the parents, without which no process may join.
	cg, err := cgroup1.New(m.loc.v1Path, &rspec.LinuxResources{}, cgroup1.WithHierarchy(m.hierarchies), skipMissing)
	if err != nil {
		return fmt.Errorf("create cgroup %s: %w", m.loc, err)
	}
	m.use(cg)
	return nil
}

func (m *v1) Apply(pid int) error {
	if err := m.Create(); err != nil {
		return err
	}
	if err := m.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, m.loc, err)
	}
	return nil
}

func (m *v1) Placement() (cloneDir string, tasks []string) {
	if m.cg == nil {
		// After Load (an exec): open the cgroup to learn its directories;
		// none are returned if it is gone.
		_, _ = m.group()
	}
	for name, dir := range m.dirs {
		if name == unifiedName {
			cloneDir = dir
		} else {
			tasks = append(tasks, filepath.Join(dir, "tasks"))
		}
	}
	return cloneDir, tasks
}

func (m *v1) AddProc(pid int) error {
	cg, err := m.group()
	if err != nil {
		return err
	}
	if err := cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, m.loc, err)
	}
	return nil
}

func (m *v1) Set(r *rspec.LinuxResources) error {
	if r == nil {
		return nil
	}
	r = withoutUnset(r)
	if err := Validate(r); err != nil {
		return err
	}
	cg, err := m.group()
	if err != nil {
		return err
	}
	if err := m.supports(r); err != nil {
		return err
	}
	if len(r.Devices) > 0 {
		if err := setDevicesV1(m.dirs[cgroup1.Devices], r.Devices); err != nil {
			return err
		}
	}
	if r.Memory != nil {
		if err := setMemoryV1(m.dirs[cgroup1.Memory], r.Memory); err != nil {
			return err
		}
	}
	// containerd writes what it writes as runc does: cpu, cpuset, block
	// I/O throttling, hugetlb and the network controllers.
	if sub := containerdV1(r); sub != nil {
		if err := cg.Update(sub); err != nil {
			return fmt.Errorf("%s: %w", v1Field(err, r), err)
		}
	}
	if c := r.CPU; c != nil {
		if err := setCPUExtraV1(m.dirs[cgroup1.Cpu], c); err != nil {
			return err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := writeFile(m.dirs[cgroup1.Pids], "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
			return fmt.Errorf("linux.resources.pids.limit: %w", err)
		}
	}
	if r.BlockIO != nil {
		if err := setBlkioWeightsV1(m.dirs[cgroup1.Blkio], r.BlockIO); err != nil {
			return err
		}
	}
	for _, line := range rdmaLines(r.Rdma) {
		if err := writeFile(m.dirs[cgroup1.Rdma], "rdma.max", line); err != nil {
			return fmt.Errorf("linux.resources.rdma: %w", err)
		}
	}
	return nil
}

// supports refuses, before anything is written, a resource whose
// controller is not mounted here.
func (m *v1) supports(r *rspec.LinuxResources) error {
	if len(r.Unified) > 0 {
		return fmt.Errorf("linux.resources.unified: needs cgroup v2, this host uses v1: %w", ErrNotSupported)
	}
	for _, n := range v1Needs(r) {
		if _, ok := m.dirs[n.controller]; !ok {
			return fmt.Errorf("linux.resources.%s: the %s cgroup controller is not mounted on this host: %w", n.field, n.controller, ErrNotSupported)
		}
	}
	return nil
}

type need struct {
	controller cgroup1.Name
	field      string
}

// v1Needs lists the controllers the set fields of r write to.
func v1Needs(r *rspec.LinuxResources) []need {
	var n []need
	if len(r.Devices) > 0 {
		n = append(n, need{cgroup1.Devices, "devices"})
	}
	if m := r.Memory; m != nil && (m.Limit != nil || m.Reservation != nil || m.Swap != nil || m.KernelTCP != nil ||
		m.Swappiness != nil || m.DisableOOMKiller != nil || m.UseHierarchy != nil) {
		n = append(n, need{cgroup1.Memory, "memory"})
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil || c.Idle != nil ||
			c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
			n = append(n, need{cgroup1.Cpu, "cpu"})
		}
		if c.Cpus != "" || c.Mems != "" {
			n = append(n, need{cgroup1.Cpuset, "cpu.cpus"})
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		n = append(n, need{cgroup1.Pids, "pids.limit"})
	}
	if b := r.BlockIO; b != nil && (b.Weight != nil || b.LeafWeight != nil || len(b.WeightDevice) > 0 ||
		len(b.ThrottleReadBpsDevice) > 0 || len(b.ThrottleWriteBpsDevice) > 0 ||
		len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0) {
		n = append(n, need{cgroup1.Blkio, "blockIO"})
	}
	if len(r.HugepageLimits) > 0 {
		n = append(n, need{cgroup1.Hugetlb, "hugepageLimits"})
	}
	if len(rdmaLines(r.Rdma)) > 0 {
		n = append(n, need{cgroup1.Rdma, "rdma"})
	}
	if nw := r.Network; nw != nil {
		if nw.ClassID != nil {
			n = append(n, need{cgroup1.NetCLS, "network.classID"})
		}
		if len(nw.Priorities) > 0 {
			n = append(n, need{cgroup1.NetPrio, "network.priorities"})
		}
	}
	return n
}

// containerdV1 keeps the part of r that containerd's cgroup1 writes the
// way runc does (nil if none: its Update visits every hierarchy); the
// rest is written here.
func containerdV1(r *rspec.LinuxResources) *rspec.LinuxResources {
	b := r.BlockIO
	if r.CPU == nil && len(r.HugepageLimits) == 0 && r.Network == nil && (b == nil ||
		len(b.ThrottleReadBpsDevice)+len(b.ThrottleWriteBpsDevice)+len(b.ThrottleReadIOPSDevice)+len(b.ThrottleWriteIOPSDevice) == 0) {
		return nil
	}
	sub := &rspec.LinuxResources{HugepageLimits: r.HugepageLimits, Network: r.Network}
	if c := r.CPU; c != nil {
		cpu := *c
		cpu.Idle, cpu.Burst = nil, nil
		if cpu.Quota != nil && *cpu.Quota == 0 { // 0 is "unset", as in runc
			cpu.Quota = nil
		}
		sub.CPU = &cpu
	}
	if b != nil {
		sub.BlockIO = &rspec.LinuxBlockIO{
			ThrottleReadBpsDevice:   b.ThrottleReadBpsDevice,
			ThrottleWriteBpsDevice:  b.ThrottleWriteBpsDevice,
			ThrottleReadIOPSDevice:  b.ThrottleReadIOPSDevice,
			ThrottleWriteIOPSDevice: b.ThrottleWriteIOPSDevice,
		}
	}
	return sub
}

func (m *v1) Procs() ([]int, error) {
	if _, err := m.group(); err != nil {
		return nil, err
	}
	for _, n := range []cgroup1.Name{cgroup1.Freezer, cgroup1.Pids, cgroup1.Memory, cgroup1.Devices} {
		if dir, ok := m.dirs[n]; ok {
			return readProcs(dir, nil)
		}
	}
	for _, dir := range m.dirs {
		return readProcs(dir, nil)
	}
	return nil, fmt.Errorf("cgroup %s: %w", m.loc, os.ErrNotExist)
}

func (m *v1) Freeze() error {
	cg, err := m.group()
	if err != nil {
		return err
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", m.loc, err)
	}
	return nil
}

func (m *v1) Thaw() error {
	cg, err := m.group()
	if err != nil {
		return err
	}
	if err := cg.Thaw(); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", m.loc, err)
	}
	return nil
}

func (m *v1) Paused() (bool, error) {
	p, ok := m.loc.in(string(cgroup1.Freezer))
	if !ok {
		return false, nil
	}
	s, err := readFile(filepath.Join(mountRoot, string(cgroup1.Freezer), p), "freezer.state")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return s == "FROZEN", nil
}

func (m *v1) Stats() (*Stats, error) {
	cg, err := m.group()
	if err != nil {
		return nil, err
	}
	metrics, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", m.loc, err)
	}
	s := statsV1(metrics)
	if dir, ok := m.dirs[cgroup1.Memory]; ok {
		s.Memory.Raw = readFlatKeyed(dir, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["cache"]
	}
	return s, nil
}

func (m *v1) OOM() (*OOMNotifier, error) {
	if _, err := m.group(); err != nil {
		return nil, err
	}
	dir, ok := m.dirs[cgroup1.Memory]
	if !ok {
		return nil, fmt.Errorf("OOM events: the memory cgroup controller is not mounted: %w", ErrNotSupported)
	}
	return oomV1(dir)
}

func (m *v1) OOMKills() (uint64, error) {
	if _, err := m.group(); err != nil {
		return 0, err
	}
	dir, ok := m.dirs[cgroup1.Memory]
	if !ok {
		return 0, nil
	}
	return readFlatKeyed(dir, "memory.oom_control")["oom_kill"], nil
}

func (m *v1) Delete() error {
	subs, err := m.hierarchies()
	if err != nil {
		return err
	}
	dirs := make([]string, 0, len(subs))
	for _, s := range subs {
		p, ok := s.(pather)
		if !ok {
			continue
		}
		if rel, err := m.loc.v1Path(s.Name()); err == nil {
			dirs = append(dirs, p.Path(rel))
		}
	}
	m.cg, m.dirs = nil, nil
	return removeTree(dirs...)
}

// v1Field names the config.json field, and its value, behind a failed
// write of containerd's cgroup1, from the file named in the error.
func v1Field(err error, r *rspec.LinuxResources) string {
	msg := err.Error()
	if c := r.CPU; c != nil {
		for _, f := range []struct {
			file, field string
			v           any
		}{
			{"cpuset.cpus", "cpu.cpus", c.Cpus}, {"cpuset.mems", "cpu.mems", c.Mems},
			{"cpu.shares", "cpu.shares", c.Shares}, {"cpu.cfs_quota_us", "cpu.quota", c.Quota},
			{"cpu.cfs_period_us", "cpu.period", c.Period}, {"cpu.rt_runtime_us", "cpu.realtimeRuntime", c.RealtimeRuntime},
			{"cpu.rt_period_us", "cpu.realtimePeriod", c.RealtimePeriod},
		} {
			if strings.Contains(msg, f.file) {
				return fmt.Sprintf("linux.resources.%s %s", f.field, show(f.v))
			}
		}
	}
	switch {
	case strings.Contains(msg, "blkio.throttle"):
		return "linux.resources.blockIO"
	case strings.Contains(msg, "hugetlb."):
		return "linux.resources.hugepageLimits"
	case strings.Contains(msg, "net_cls") || strings.Contains(msg, "net_prio"):
		return "linux.resources.network"
	}
	return "linux.resources"
}

// show formats a field's value: a string quoted, a pointer dereferenced.
func show(v any) string {
	switch p := v.(type) {
	case string:
		return strconv.Quote(p)
	case *uint64:
		if p != nil {
			return strconv.FormatUint(*p, 10)
		}
	case *int64:
		if p != nil {
			return strconv.FormatInt(*p, 10)
		}
	}
	return ""
}
