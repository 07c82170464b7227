package cgroups

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup2"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Plan is linux.resources turned into cgroup v2 terms: what containerd's
// cgroup2 writes (res), the files it has no field for, and the controllers
// all of it needs. Device rules are not part of it (see deviceFilter).
type v2Plan struct {
	res   cgroup2.Resources
	files []fileValue
	needs []v2Need
}

type fileValue struct {
	field    string // the config.json field under linux.resources, for errors
	name     string
	value    string
	optional bool       // skipped when the kernel has no such file
	alt      *fileValue // written instead when the kernel has no such file
}

type v2Need struct{ controller, field string }

func (p *v2Plan) need(controller, field string) {
	for _, n := range p.needs {
		if n.controller == controller {
			return
		}
	}
	p.needs = append(p.needs, v2Need{controller, field})
}

func (p *v2Plan) file(controller string, f fileValue) {
	p.need(controller, f.field)
	p.files = append(p.files, f)
}

// planV2 converts resources for cgroup v2. currentQuota reads the quota
// in cpu.max, kept when only the period changes.
func planV2(r *rspec.LinuxResources, currentQuota func() string) (*v2Plan, error) {
	p := &v2Plan{}
	unsupported := func(field, why string) error {
		return fmt.Errorf("linux.resources.%s: %s on cgroup v2: %w", field, why, ErrNotSupported)
	}
	if c := r.CPU; c != nil {
		if c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
			return nil, unsupported("cpu.realtimeRuntime", "no realtime limits")
		}
		var cpu cgroup2.CPU
		if c.Shares != nil {
			w := sharesToWeight(*c.Shares)
			cpu.Weight = &w
			p.need("cpu", "cpu.shares")
		}
		quota := nonZero(c.Quota)
		if quota != nil || c.Period != nil {
			var max string
			switch {
			case quota == nil:
				max = currentQuota()
			case *quota < 0:
				max = "max"
			default:
				max = strconv.FormatInt(*quota, 10)
			}
			if c.Period != nil {
				max += " " + strconv.FormatUint(*c.Period, 10)
			}
			cpu.Max = cgroup2.CPUMax(max)
			p.need("cpu", "cpu.quota")
		}
		if c.Cpus != "" || c.Mems != "" {
			cpu.Cpus, cpu.Mems = c.Cpus, c.Mems
			p.need("cpuset", "cpu.cpus")
		}
		if cpu != (cgroup2.CPU{}) {
			p.res.CPU = &cpu
		}
		if c.Burst != nil {
			p.file("cpu", fileValue{field: "cpu.burst", name: "cpu.max.burst", value: strconv.FormatUint(*c.Burst, 10)})
		}
		if c.Idle != nil {
			p.file("cpu", fileValue{field: "cpu.idle", name: "cpu.idle", value: strconv.FormatInt(*c.Idle, 10)})
		}
	}
	if mem := r.Memory; mem != nil {
		//lint:ignore SA1019 the field is read only to say it is ignored
		if mem.Kernel != nil || mem.KernelTCP != nil {
			slog.Debug("linux.resources.memory.kernel and kernelTCP are ignored: cgroup v2 has no separate kernel memory limits")
		}
		if mem.Swappiness != nil {
			return nil, unsupported("memory.swappiness", "no per-cgroup swappiness")
		}
		if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
			return nil, unsupported("memory.disableOOMKiller", "the OOM killer cannot be turned off")
		}
		if mem.UseHierarchy != nil && !*mem.UseHierarchy {
			return nil, unsupported("memory.useHierarchy", "accounting is always hierarchical")
		}
		var out cgroup2.Memory
		limit, swap := nonZero(mem.Limit), nonZero(mem.Swap)
		if limit != nil {
			if *limit == -1 {
				p.file("memory", fileValue{field: "memory.limit", name: "memory.max", value: "max"})
			} else {
				out.Max = limit
				p.need("memory", "memory.limit")
			}
		}
		if res := nonZero(mem.Reservation); res != nil {
			if *res == -1 {
				p.file("memory", fileValue{field: "memory.reservation", name: "memory.low", value: "max"})
			} else {
				out.Low = res
				p.need("memory", "memory.reservation")
			}
		}
		// memory.swap is memory plus swap (v1's memsw); v2's swap.max is
		// the swap alone.
		switch {
		case swap == nil && limit != nil && *limit == -1:
			p.file("memory", fileValue{field: "memory.limit", name: "memory.swap.max", value: "max", optional: true})
		case swap == nil:
		case *swap == -1:
			p.file("memory", fileValue{field: "memory.swap", name: "memory.swap.max", value: "max"})
		case limit == nil || *limit == -1:
			return nil, fmt.Errorf("linux.resources.memory.swap: %d needs a memory.limit too on cgroup v2, which limits swap apart from memory", *swap)
		default:
			s := *swap - *limit
			out.Swap = &s
			p.need("memory", "memory.swap")
		}
		if out != (cgroup2.Memory{}) {
			p.res.Memory = &out
		}
	}
	if pids := r.Pids; pids != nil && pids.Limit != nil {
		if *pids.Limit == 0 { // containerd reads 0 as "unset"
			p.file("pids", fileValue{field: "pids.limit", name: "pids.max", value: "0"})
		} else {
			p.res.Pids = &cgroup2.Pids{Max: *pids.Limit}
			p.need("pids", "pids.limit")
		}
	}
	if b := r.BlockIO; b != nil {
		if err := planIO(p, b); err != nil {
			return nil, err
		}
	}
	if len(r.HugepageLimits) > 0 {
		h := make(cgroup2.HugeTlb, len(r.HugepageLimits))
		for i, l := range r.HugepageLimits {
			h[i] = cgroup2.HugeTlbEntry{HugePageSize: l.Pagesize, Limit: l.Limit}
		}
		p.res.HugeTlb = &h
		p.need("hugetlb", "hugepageLimits")
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return nil, unsupported("network", "no net_cls or net_prio controller")
	}
	for _, line := range rdmaLines(r.Rdma) {
		p.file("rdma", fileValue{field: "rdma", name: "rdma.max", value: line})
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ctrl, _, _ := strings.Cut(k, ".")
		f := fileValue{field: "unified." + k, name: k, value: r.Unified[k]}
		if ctrl == "cgroup" { // core files, there without any controller
			p.files = append(p.files, f)
		} else {
			p.file(ctrl, f)
		}
	}
	return p, nil
}

// planIO converts block I/O. A weight goes to BFQ's io.bfq.weight, which
// takes v1's 1-1000 as is, or else to io.weight (1-10000).
func planIO(p *v2Plan, b *rspec.LinuxBlockIO) error {
	if b.LeafWeight != nil {
		return fmt.Errorf("linux.resources.blockIO.leafWeight: no leaf weights on cgroup v2: %w", ErrNotSupported)
	}
	if b.Weight != nil {
		w := uint64(*b.Weight)
		p.file("io", fileValue{field: "blockIO.weight", name: "io.bfq.weight", value: strconv.FormatUint(w, 10),
			alt: &fileValue{field: "blockIO.weight", name: "io.weight", value: strconv.FormatUint(ioWeight(w), 10)}})
	}
	for i, d := range b.WeightDevice {
		field := fmt.Sprintf("blockIO.weightDevice[%d]", i)
		if d.LeafWeight != nil {
			return fmt.Errorf("linux.resources.%s.leafWeight: no leaf weights on cgroup v2: %w", field, ErrNotSupported)
		}
		if d.Weight == nil {
			continue
		}
		dev := strconv.FormatInt(d.Major, 10) + ":" + strconv.FormatInt(d.Minor, 10) + " "
		w := uint64(*d.Weight)
		p.file("io", fileValue{field: field, name: "io.bfq.weight", value: dev + strconv.FormatUint(w, 10),
			alt: &fileValue{field: field, name: "io.weight", value: dev + strconv.FormatUint(ioWeight(w), 10)}})
	}
	var max []cgroup2.Entry
	for _, t := range []struct {
		typ cgroup2.IOType
		l   []rspec.LinuxThrottleDevice
	}{{cgroup2.ReadBPS, b.ThrottleReadBpsDevice}, {cgroup2.WriteBPS, b.ThrottleWriteBpsDevice},
		{cgroup2.ReadIOPS, b.ThrottleReadIOPSDevice}, {cgroup2.WriteIOPS, b.ThrottleWriteIOPSDevice}} {
		for _, d := range t.l {
			max = append(max, cgroup2.Entry{Type: t.typ, Major: d.Major, Minor: d.Minor, Rate: d.Rate})
		}
	}
	if len(max) > 0 {
		p.res.IO = &cgroup2.IO{Max: max}
		p.need("io", "blockIO")
	}
	return nil
}

// sharesToWeight maps cpu.shares (2-262144) onto cpu.weight (1-10000)
// linearly, as runc and crun have long done.
func sharesToWeight(shares uint64) uint64 {
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + (shares-2)*9999/262142
}

// ioWeight maps a v1 block I/O weight (10-1000) onto io.weight (1-10000).
func ioWeight(w uint64) uint64 {
	if w < 10 {
		return 1
	}
	return 1 + (w-10)*9999/990
}
