package cgroups

import (
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// Stats is a container's resource usage, in the JSON shape of the "data"
// of runc's `events --stats`.
type Stats struct {
	CPU     CPUStats                `json:"cpu"`
	Memory  MemoryStats             `json:"memory"`
	Pids    PidsStats               `json:"pids"`
	Blkio   BlkioStats              `json:"blkio"`
	Hugetlb map[string]HugetlbStats `json:"hugetlb"`
}

// CPUStats times are in nanoseconds.
type CPUStats struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
}

type CPUUsage struct {
	Total  uint64   `json:"total,omitempty"`
	Percpu []uint64 `json:"percpu,omitempty"`
	Kernel uint64   `json:"kernel"`
	User   uint64   `json:"user"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// MemoryStats: Swap is memory plus swap, as cgroup v1 counts it (v2
// numbers are added up to match).
type MemoryStats struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"` // memory.stat
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"` // 0: unlimited
}

type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type HugetlbStats struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

func statsV1(m *v1stats.Metrics) *Stats {
	s := &Stats{Hugetlb: make(map[string]HugetlbStats, len(m.Hugetlb))}
	if c := m.CPU; c != nil {
		if u := c.Usage; u != nil {
			s.CPU.Usage = CPUUsage{Total: u.Total, Percpu: u.PerCPU, Kernel: u.Kernel, User: u.User}
		}
		if t := c.Throttling; t != nil {
			s.CPU.Throttling = Throttling{t.Periods, t.ThrottledPeriods, t.ThrottledTime}
		}
	}
	if mem := m.Memory; mem != nil {
		s.Memory.Usage = memoryEntryV1(mem.Usage)
		s.Memory.Swap = memoryEntryV1(mem.Swap)
		s.Memory.Kernel = memoryEntryV1(mem.Kernel)
		s.Memory.KernelTCP = memoryEntryV1(mem.KernelTCP)
	}
	if p := m.Pids; p != nil {
		s.Pids = PidsStats{Current: p.Current, Limit: p.Limit}
	}
	if b := m.Blkio; b != nil {
		s.Blkio = BlkioStats{
			IoServiceBytesRecursive: blkioV1(b.IoServiceBytesRecursive),
			IoServicedRecursive:     blkioV1(b.IoServicedRecursive),
			IoQueuedRecursive:       blkioV1(b.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkioV1(b.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkioV1(b.IoWaitTimeRecursive),
			IoMergedRecursive:       blkioV1(b.IoMergedRecursive),
			IoTimeRecursive:         blkioV1(b.IoTimeRecursive),
			SectorsRecursive:        blkioV1(b.SectorsRecursive),
		}
	}
	for _, h := range m.Hugetlb {
		s.Hugetlb[h.Pagesize] = HugetlbStats{Usage: h.Usage, Max: h.Max, Failcnt: h.Failcnt}
	}
	return s
}

func memoryEntryV1(e *v1stats.MemoryEntry) MemoryEntry {
	if e == nil {
		return MemoryEntry{}
	}
	return MemoryEntry{Limit: e.Limit, Usage: e.Usage, Max: e.Max, Failcnt: e.Failcnt}
}

func blkioV1(in []*v1stats.BlkIOEntry) []BlkioEntry {
	if len(in) == 0 {
		return nil
	}
	out := make([]BlkioEntry, len(in))
	for i, e := range in {
		out[i] = BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value}
	}
	return out
}

func statsV2(m *v2stats.Metrics) *Stats {
	s := &Stats{Hugetlb: make(map[string]HugetlbStats, len(m.Hugetlb))}
	if c := m.CPU; c != nil {
		s.CPU.Usage = CPUUsage{Total: c.UsageUsec * 1000, Kernel: c.SystemUsec * 1000, User: c.UserUsec * 1000}
		s.CPU.Throttling = Throttling{c.NrPeriods, c.NrThrottled, c.ThrottledUsec * 1000}
	}
	if mem := m.Memory; mem != nil {
		s.Memory.Cache = mem.File
		s.Memory.Usage = MemoryEntry{Limit: mem.UsageLimit, Usage: mem.Usage, Max: mem.MaxUsage}
		s.Memory.Swap = MemoryEntry{Limit: addCapped(mem.SwapLimit, mem.UsageLimit), Usage: mem.SwapUsage + mem.Usage, Max: mem.SwapMaxUsage}
	}
	if p := m.Pids; p != nil {
		s.Pids = PidsStats{Current: p.Current, Limit: p.Limit}
	}
	if io := m.Io; io != nil {
		for _, e := range io.Usage {
			s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive,
				BlkioEntry{e.Major, e.Minor, "Read", e.Rbytes}, BlkioEntry{e.Major, e.Minor, "Write", e.Wbytes})
			s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive,
				BlkioEntry{e.Major, e.Minor, "Read", e.Rios}, BlkioEntry{e.Major, e.Minor, "Write", e.Wios})
		}
	}
	for _, h := range m.Hugetlb {
		s.Hugetlb[h.Pagesize] = HugetlbStats{Usage: h.Current, Max: h.Max, Failcnt: h.Failcnt}
	}
	return s
}

// addCapped adds two limits where the maximum means "none".
func addCapped(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}
