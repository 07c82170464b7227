package containers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// cgroupRoot is where the cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// clockTicks is USER_HZ, the unit of /proc/stat and cpuacct.stat.
const clockTicks = 100

// cgroups finds a container's cgroup directories: cgroup v1 has one per
// controller, v2 one for all.
type cgroups struct {
	root string // cgroupRoot, or a test's directory
	v2   bool
	path string // the container's linux.cgroupsPath ("/xmgr/<id>")
}

// containerCgroups returns the cgroups of container id, as its bundle's
// config.json names them (else /xmgr/<id>).
func (m *Manager) containerCgroups(id string) cgroups {
	cg := cgroups{root: cgroupRoot, path: "/xmgr/" + id}
	if data, err := os.ReadFile(filepath.Join(m.bundleDir(id), "config.json")); err == nil {
		var spec rspec.Spec
		if json.Unmarshal(data, &spec) == nil && spec.Linux != nil && spec.Linux.CgroupsPath != "" {
			cg.path = spec.Linux.CgroupsPath
		}
	}
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	cg.v2 = err == nil
	return cg
}

// dir is the container's directory of controller (ignored on v2).
func (cg cgroups) dir(controller string) string {
	if cg.v2 {
		return filepath.Join(cg.root, cg.path)
	}
	return filepath.Join(cg.root, controller, cg.path)
}

// uintFile reads a file holding one number ("max" is 0).
func uintFile(p string) uint64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// keyValues reads a "key value" per line file (memory.stat, cpu.stat).
func keyValues(p string) map[string]uint64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// pids returns the processes in the container's cgroup.
func (cg cgroups) pids() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(cg.dir("pids"), "cgroup.procs"))
	if err != nil {
		// pids is not mounted everywhere; memory always is.
		var err2 error
		if b, err2 = os.ReadFile(filepath.Join(cg.dir("memory"), "cgroup.procs")); err2 != nil {
			return nil, err
		}
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// sample reads one stats sample of the cgroup (CPU, memory, pids, block
// io) in Docker's cgroup v1 shapes.
func (cg cgroups) sample(s *types.StatsJSON) {
	if cg.v2 {
		cg.sampleV2(s)
		return
	}
	acct := cg.dir("cpuacct")
	s.CPUStats.CPUUsage.TotalUsage = uintFile(filepath.Join(acct, "cpuacct.usage"))
	if b, err := os.ReadFile(filepath.Join(acct, "cpuacct.usage_percpu")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.ParseUint(f, 10, 64)
			s.CPUStats.CPUUsage.PercpuUsage = append(s.CPUStats.CPUUsage.PercpuUsage, n)
		}
	}
	st := keyValues(filepath.Join(acct, "cpuacct.stat"))
	// cpuacct.stat counts USER_HZ ticks; Docker reports nanoseconds.
	s.CPUStats.CPUUsage.UsageInUsermode = st["user"] * (1e9 / clockTicks)
	s.CPUStats.CPUUsage.UsageInKernelmode = st["system"] * (1e9 / clockTicks)
	thr := keyValues(filepath.Join(cg.dir("cpu"), "cpu.stat"))
	s.CPUStats.ThrottlingData = types.ThrottlingData{
		Periods: thr["nr_periods"], ThrottledPeriods: thr["nr_throttled"], ThrottledTime: thr["throttled_time"],
	}

	mem := cg.dir("memory")
	s.MemoryStats.Usage = uintFile(filepath.Join(mem, "memory.usage_in_bytes"))
	s.MemoryStats.MaxUsage = uintFile(filepath.Join(mem, "memory.max_usage_in_bytes"))
	s.MemoryStats.Limit = uintFile(filepath.Join(mem, "memory.limit_in_bytes"))
	s.MemoryStats.Failcnt = uintFile(filepath.Join(mem, "memory.failcnt"))
	s.MemoryStats.Stats = keyValues(filepath.Join(mem, "memory.stat"))

	pids := cg.dir("pids")
	s.PidsStats.Current = uintFile(filepath.Join(pids, "pids.current"))
	s.PidsStats.Limit = uintFile(filepath.Join(pids, "pids.max"))

	blkio := cg.dir("blkio")
	s.BlkioStats.IoServiceBytesRecursive = blkioEntries(filepath.Join(blkio, "blkio.throttle.io_service_bytes_recursive"))
	if len(s.BlkioStats.IoServiceBytesRecursive) == 0 {
		s.BlkioStats.IoServiceBytesRecursive = blkioEntries(filepath.Join(blkio, "blkio.io_service_bytes_recursive"))
	}
	s.BlkioStats.IoServicedRecursive = blkioEntries(filepath.Join(blkio, "blkio.throttle.io_serviced_recursive"))
	if len(s.BlkioStats.IoServicedRecursive) == 0 {
		s.BlkioStats.IoServicedRecursive = blkioEntries(filepath.Join(blkio, "blkio.io_serviced_recursive"))
	}
}

// sampleV2 reads the unified hierarchy's files into the same shapes.
func (cg cgroups) sampleV2(s *types.StatsJSON) {
	dir := cg.dir("")
	cpu := keyValues(filepath.Join(dir, "cpu.stat")) // microseconds
	s.CPUStats.CPUUsage.TotalUsage = cpu["usage_usec"] * 1000
	s.CPUStats.CPUUsage.UsageInUsermode = cpu["user_usec"] * 1000
	s.CPUStats.CPUUsage.UsageInKernelmode = cpu["system_usec"] * 1000
	s.CPUStats.ThrottlingData = types.ThrottlingData{
		Periods: cpu["nr_periods"], ThrottledPeriods: cpu["nr_throttled"], ThrottledTime: cpu["throttled_usec"] * 1000,
	}
	s.MemoryStats.Usage = uintFile(filepath.Join(dir, "memory.current"))
	s.MemoryStats.Limit = uintFile(filepath.Join(dir, "memory.max"))
	s.MemoryStats.Stats = keyValues(filepath.Join(dir, "memory.stat"))
	s.PidsStats.Current = uintFile(filepath.Join(dir, "pids.current"))
	s.PidsStats.Limit = uintFile(filepath.Join(dir, "pids.max"))
	if b, err := os.ReadFile(filepath.Join(dir, "io.stat")); err == nil {
		s.BlkioStats.IoServiceBytesRecursive = ioStatV2(b)
	}
}

// blkioEntries reads a v1 blkio file: "MAJ:MIN Op value" lines, and a
// final "Total value" that is left out.
func blkioEntries(p string) []types.BlkioStatEntry {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var out []types.BlkioStatEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		e := types.BlkioStatEntry{Op: f[1]}
		e.Major, _ = strconv.ParseUint(maj, 10, 64)
		e.Minor, _ = strconv.ParseUint(min, 10, 64)
		e.Value, _ = strconv.ParseUint(f[2], 10, 64)
		out = append(out, e)
	}
	return out
}

// ioStatV2 turns v2's io.stat ("MAJ:MIN rbytes=N wbytes=N ...") into
// v1's Read/Write entries.
func ioStatV2(b []byte) []types.BlkioStatEntry {
	var out []types.BlkioStatEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, _ := strings.Cut(f[0], ":")
		major, _ := strconv.ParseUint(maj, 10, 64)
		minor, _ := strconv.ParseUint(min, 10, 64)
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			op := map[string]string{"rbytes": "Read", "wbytes": "Write"}[k]
			if op == "" {
				continue
			}
			n, _ := strconv.ParseUint(v, 10, 64)
			out = append(out, types.BlkioStatEntry{Major: major, Minor: minor, Op: op, Value: n})
		}
	}
	return out
}

// systemCPUUsage is the host's CPU time in nanoseconds from the first
// line of /proc/stat, as Docker computes it.
func systemCPUUsage(procStat []byte) uint64 {
	line, _, _ := bytes.Cut(procStat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, v := range f[1:8] { // user nice system idle iowait irq softirq
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	return ticks * (1e9 / clockTicks)
}

// netDev reads /proc/<pid>/net/dev: counters by interface, lo left out.
func netDev(data []byte) map[string]types.NetworkStats {
	out := map[string]types.NetworkStats{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		n := make([]uint64, 16)
		for i := range n {
			n[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		out[name] = types.NetworkStats{
			RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11],
		}
	}
	return out
}

// ContainerStats calls out with samples of the container's resource use:
// one (stream false), or one a second until ctx ends or the container
// stops. A single sample has no previous one (precpu_stats zero) so that
// it comes at once; Docker 20.10 waits a second for a second read unless
// one-shot. A container that does not run gets one zero sample.
func (m *Manager) ContainerStats(ctx context.Context, name string, stream bool, out func(*types.StatsJSON) error) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	id, cname, running, pid, exited := c.ID, "/"+c.Name, c.State.Running(), c.State.Pid, c.exited
	hostNet := c.HostConfig != nil && c.HostConfig.NetworkMode == "host"
	c.mu.Unlock()
	if !running {
		return out(&types.StatsJSON{Name: cname, ID: id})
	}
	cg := m.containerCgroups(id)
	var prev *types.StatsJSON
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s := &types.StatsJSON{Name: cname, ID: id, Read: time.Now().UTC()}
		cg.sample(s)
		// Without a limit the cgroup says 8 EiB (v1) or "max" (v2);
		// Docker reports the host's memory then.
		if total := hostMemTotal(); total > 0 && (s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > total) {
			s.MemoryStats.Limit = total
		}
		s.CPUStats.OnlineCPUs = uint32(runtime.NumCPU())
		if b, err := os.ReadFile("/proc/stat"); err == nil {
			s.CPUStats.SystemUsage = systemCPUUsage(b)
		}
		if !hostNet {
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev"); err == nil {
				s.Networks = netDev(b)
			}
		}
		if prev != nil {
			s.PreCPUStats, s.PreRead = prev.CPUStats, prev.Read
		}
		if err := out(s); err != nil || !stream {
			return err
		}
		prev = s
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			return nil
		case <-tick.C:
		}
	}
}

// hostMemTotal is the host's memory in bytes (MemTotal of /proc/meminfo),
// 0 when unknown.
func hostMemTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return memTotal(b)
}

// memTotal reads MemTotal ("MemTotal:  2030404 kB") from meminfo's text.
func memTotal(meminfo []byte) uint64 {
	for _, line := range strings.Split(string(meminfo), "\n") {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		return n
	}
	return 0
}
