package cgroups

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks linux.resources for values no kernel would take or that
// make no sense, naming the field. Whether this host can apply a valid
// value is Set's business.
func Validate(r *rspec.LinuxResources) error {
	r = withoutUnset(r) // 0 is "unset" for shares, weights and periods, as in runc
	if r == nil {
		return nil
	}
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("linux.resources.%s: "+format, append([]any{field}, a...)...))
	}
	if m := r.Memory; m != nil {
		//lint:ignore SA1019 a deprecated field is still checked
		kernel := m.Kernel
		for _, f := range []struct {
			name string
			v    *int64
		}{{"limit", m.Limit}, {"reservation", m.Reservation}, {"swap", m.Swap}, {"kernel", kernel}, {"kernelTCP", m.KernelTCP}} {
			if f.v != nil && *f.v < -1 {
				add("memory."+f.name, "%d: must be -1 (unlimited) or a byte count", *f.v)
			}
		}
		if m.Limit != nil && m.Swap != nil && *m.Limit > 0 && *m.Swap > 0 && *m.Swap < *m.Limit {
			add("memory.swap", "%d is below memory.limit %d: swap is the limit of memory plus swap", *m.Swap, *m.Limit)
		}
		if m.Swappiness != nil && *m.Swappiness > 100 {
			add("memory.swappiness", "%d: must be 0 to 100", *m.Swappiness)
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && (*c.Shares == 0 || *c.Shares > 262144) {
			add("cpu.shares", "%d: must be 1 to 262144", *c.Shares)
		}
		if c.Quota != nil && (*c.Quota < -1 || (*c.Quota > 0 && *c.Quota < 1000)) {
			add("cpu.quota", "%d: must be -1 (unlimited), 0 (unset) or at least 1000 (1ms)", *c.Quota)
		}
		if c.Period != nil && (*c.Period < 1000 || *c.Period > 1000000) {
			add("cpu.period", "%d: must be 1000 to 1000000 (1ms to 1s)", *c.Period)
		}
		if c.Burst != nil && c.Quota != nil && *c.Quota > 0 && *c.Burst > uint64(*c.Quota) {
			add("cpu.burst", "%d is above cpu.quota %d", *c.Burst, *c.Quota)
		}
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime < -1 {
			add("cpu.realtimeRuntime", "%d: must be -1 (unlimited) or microseconds", *c.RealtimeRuntime)
		}
		if c.RealtimePeriod != nil && (*c.RealtimePeriod == 0 || *c.RealtimePeriod > 1000000) {
			add("cpu.realtimePeriod", "%d: must be 1 to 1000000 (1s)", *c.RealtimePeriod)
		}
		if c.RealtimeRuntime != nil && c.RealtimePeriod != nil && *c.RealtimeRuntime > int64(*c.RealtimePeriod) {
			add("cpu.realtimeRuntime", "%d is above cpu.realtimePeriod %d", *c.RealtimeRuntime, *c.RealtimePeriod)
		}
		if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
			add("cpu.idle", "%d: must be 0 or 1", *c.Idle)
		}
		if err := checkList(c.Cpus); err != nil {
			add("cpu.cpus", "%w", err)
		}
		if err := checkList(c.Mems); err != nil {
			add("cpu.mems", "%w", err)
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit < -1 {
		add("pids.limit", "%d: must be -1 (unlimited) or a count", *p.Limit)
	}
	if b := r.BlockIO; b != nil {
		checkWeight := func(field string, w *uint16) {
			if w != nil && (*w == 0 || *w > 1000) {
				add(field, "%d: must be 1 to 1000", *w)
			}
		}
		checkWeight("blockIO.weight", b.Weight)
		checkWeight("blockIO.leafWeight", b.LeafWeight)
		for i, d := range b.WeightDevice {
			field := fmt.Sprintf("blockIO.weightDevice[%d]", i)
			if d.Major < 0 || d.Minor < 0 {
				add(field, "device %d:%d: negative number", d.Major, d.Minor)
			}
			checkWeight(field+".weight", d.Weight)
			checkWeight(field+".leafWeight", d.LeafWeight)
		}
		for _, t := range []struct {
			name string
			l    []rspec.LinuxThrottleDevice
		}{{"throttleReadBpsDevice", b.ThrottleReadBpsDevice}, {"throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
			{"throttleReadIOPSDevice", b.ThrottleReadIOPSDevice}, {"throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice}} {
			for i, d := range t.l {
				if d.Major < 0 || d.Minor < 0 {
					add(fmt.Sprintf("blockIO.%s[%d]", t.name, i), "device %d:%d: negative number", d.Major, d.Minor)
				}
			}
		}
	}
	for i, h := range r.HugepageLimits {
		if !validPageSize(h.Pagesize) {
			add(fmt.Sprintf("hugepageLimits[%d].pageSize", i), "%q: want a size such as 2MB or 1GB", h.Pagesize)
		}
	}
	if n := r.Network; n != nil {
		for i, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " /\n") {
				add(fmt.Sprintf("network.priorities[%d].name", i), "%q: not an interface name", p.Name)
			}
		}
	}
	if err := checkRdma(r.Rdma); err != nil {
		add("rdma", "%w", err)
	}
	for i, d := range r.Devices {
		if err := checkDeviceRule(d); err != nil {
			add(fmt.Sprintf("devices[%d]", i), "%w", err)
		}
	}
	for k := range r.Unified {
		if k == "" || !strings.Contains(k, ".") || strings.ContainsAny(k, "/\n") {
			add("unified", "key %q: not a cgroup file name", k)
		} else if k == "cgroup.procs" || k == "cgroup.threads" || k == "cgroup.subtree_control" {
			add("unified", "key %q: not a resource", k)
		}
	}
	return errors.Join(errs...)
}

func checkDeviceRule(d rspec.LinuxDeviceCgroup) error {
	switch d.Type {
	case "", "a", "c", "b":
	default:
		return fmt.Errorf("type %q: must be a, c or b", d.Type)
	}
	for _, c := range d.Access {
		if c != 'r' && c != 'w' && c != 'm' {
			return fmt.Errorf("access %q: only r, w and m are allowed", d.Access)
		}
	}
	for _, n := range []*int64{d.Major, d.Minor} {
		if n != nil && (*n < -1 || *n > 0xffffffff) {
			return fmt.Errorf("device number %d: must be -1 (any) or 0 to 4294967295", *n)
		}
	}
	return nil
}

// checkList checks a cpuset list such as "0-3,5".
func checkList(s string) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil || b < a {
			return fmt.Errorf("%q: want a list such as 0-3,5", s)
		}
	}
	return nil
}

// validPageSize accepts what the kernel names hugetlb files with: 64KB, 2MB, 1GB.
func validPageSize(s string) bool {
	n := strings.TrimRight(s, "KMGTPB")
	unit := s[len(n):]
	if _, err := strconv.ParseUint(n, 10, 32); err != nil {
		return false
	}
	switch unit {
	case "KB", "MB", "GB", "TB", "PB":
		return true
	}
	return false
}
