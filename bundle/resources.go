package bundle

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	minMemory      = 6 << 20 // Docker's smallest --memory and --memory-reservation
	cpuPeriod      = 100000  // µs: the CFS period --cpus is expressed in
	minCPUShares   = 2
	maxCPUShares   = 262144
	minNanoCPUs    = 1e7 // 0.01 CPU
	nanoCPUsPerCPU = 1e9
)

func setNamespaces(s *rspec.Spec, o *Options) error {
	ns := []rspec.LinuxNamespace{{Type: rspec.MountNamespace}}
	switch {
	case o.HostNetwork && o.NetNSPath != "":
		return errors.New("network: a namespace path and host networking both given")
	case !o.HostNetwork:
		ns = append(ns, rspec.LinuxNamespace{Type: rspec.NetworkNamespace, Path: o.NetNSPath})
	}
	// The cgroup namespace is left out: Docker 20.10 uses the host's on
	// cgroup v1.
	ns = append(ns,
		rspec.LinuxNamespace{Type: rspec.UTSNamespace},
		rspec.LinuxNamespace{Type: rspec.PIDNamespace},
		rspec.LinuxNamespace{Type: rspec.IPCNamespace})
	s.Linux.Namespaces = ns
	if !o.Privileged {
		s.Linux.MaskedPaths = []string{
			"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
			"/sys/firmware", "/sys/devices/virtual/powercap",
		}
		s.Linux.ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	}
	return nil
}

func setResources(s *rspec.Spec, o *Options) error {
	r, err := Resources(o)
	if err != nil {
		return err
	}
	s.Linux.Resources = r
	return nil
}

// Resources are the cgroup limits of o (memory, cpu, pids), checked as
// Docker checks them; `update` applies them to a running container.
func Resources(o *Options) (*rspec.LinuxResources, error) {
	r := &rspec.LinuxResources{}
	mem, err := memory(o.Memory, o.MemoryReservation, o.MemorySwap)
	if err != nil {
		return nil, err
	}
	r.Memory = mem
	if r.CPU, err = cpu(o); err != nil {
		return nil, err
	}
	if o.PidsLimit != nil {
		limit := *o.PidsLimit
		if limit <= 0 {
			limit = -1 // unlimited, also over an earlier limit
		}
		r.Pids = &rspec.LinuxPids{Limit: &limit}
	}
	return r, nil
}

// memory applies Docker's checks and its swap rule: swap (memory plus
// swap, as cgroup v1 counts it) is twice the memory when only the memory
// is limited; -1 is unlimited.
func memory(limit, reservation, swap int64) (*rspec.LinuxMemory, error) {
	switch {
	case limit < 0 || reservation < 0 || swap < -1:
		return nil, errors.New("memory: limits must not be negative (swap may be -1, unlimited)")
	case limit > 0 && limit < minMemory:
		return nil, errors.New("memory: minimum memory limit allowed is 6MB")
	case reservation > 0 && reservation < minMemory:
		return nil, errors.New("memory: minimum memory reservation allowed is 6MB")
	case swap > 0 && limit == 0:
		return nil, errors.New("memory: the memory limit must be set to limit memory+swap")
	case swap > 0 && swap < limit:
		return nil, errors.New("memory: the memory+swap limit must be larger than the memory limit")
	case limit > 0 && reservation > limit:
		return nil, errors.New("memory: the memory limit can not be less than the memory reservation")
	}
	if limit == 0 && reservation == 0 && swap == 0 {
		return nil, nil
	}
	m := &rspec.LinuxMemory{}
	if limit > 0 {
		m.Limit = &limit
		if swap == 0 {
			swap = 2 * limit
		}
	}
	if reservation > 0 {
		m.Reservation = &reservation
	}
	if swap != 0 {
		m.Swap = &swap
	}
	return m, nil
}

// cpu converts --cpus to a CFS quota over a 100ms period, clamps
// --cpu-shares as Docker does and checks the cpuset syntax.
func cpu(o *Options) (*rspec.LinuxCPU, error) {
	if o.NanoCPUs == 0 && o.CPUShares == 0 && o.CPUPeriod == 0 && o.CPUQuota == 0 && o.CpusetCpus == "" && o.CpusetMems == "" {
		return nil, nil
	}
	c := &rspec.LinuxCPU{}
	if n := o.NanoCPUs; n != 0 {
		ncpu := int64(runtime.NumCPU())
		if n < minNanoCPUs || n > ncpu*nanoCPUsPerCPU {
			return nil, fmt.Errorf("cpus: range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
		}
		quota, period := n*cpuPeriod/nanoCPUsPerCPU, uint64(cpuPeriod)
		c.Quota, c.Period = &quota, &period
	}
	if o.CPUPeriod != 0 {
		p := uint64(o.CPUPeriod)
		c.Period = &p
	}
	if o.CPUQuota != 0 {
		q := o.CPUQuota
		c.Quota = &q
	}
	if shares := o.CPUShares; shares != 0 {
		shares = min(max(shares, minCPUShares), maxCPUShares)
		u := uint64(shares)
		c.Shares = &u
	}
	for _, set := range []struct{ name, value string }{{"cpuset-cpus", o.CpusetCpus}, {"cpuset-mems", o.CpusetMems}} {
		if set.value != "" {
			if err := checkCPUList(set.value); err != nil {
				return nil, fmt.Errorf("%s %q: %w", set.name, set.value, err)
			}
		}
	}
	c.Cpus, c.Mems = o.CpusetCpus, o.CpusetMems
	return c, nil
}

// checkCPUList checks the kernel's list syntax: "0-3,5,7-8".
func checkCPUList(list string) error {
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a number or a range", part)
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil || b < a {
				return fmt.Errorf("%q is not a valid range", part)
			}
		}
	}
	return nil
}

// ipcSysctls are the kernel.* sysctls Docker takes: they are namespaced
// by the IPC namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// setSysctls takes only the sysctls a container's namespaces hold, as
// Docker does: the IPC ones, fs.mqueue.* and, without host networking,
// net.*.
func setSysctls(s *rspec.Spec, o *Options) error {
	if len(o.Sysctls) == 0 {
		return nil
	}
	for k := range o.Sysctls {
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
		case strings.HasPrefix(k, "net."):
			if o.HostNetwork {
				return fmt.Errorf("sysctl %q is not allowed with host networking", k)
			}
		default:
			return fmt.Errorf("sysctl %q is not allowed: it is not namespaced and would change the host", k)
		}
	}
	s.Linux.Sysctl = make(map[string]string, len(o.Sysctls))
	for k, v := range o.Sysctls {
		s.Linux.Sysctl[k] = v
	}
	return nil
}

// ulimitNames are the names --ulimit takes.
var ulimitNames = map[string]bool{
	"as": true, "core": true, "cpu": true, "data": true, "fsize": true, "locks": true,
	"memlock": true, "msgqueue": true, "nice": true, "nofile": true, "nproc": true, "rss": true,
	"rtprio": true, "rttime": true, "sigpending": true, "stack": true,
}

// ParseUlimit parses --ulimit "name=soft[:hard]" as Docker does; hard
// defaults to soft and -1 is unlimited.
func ParseUlimit(s string) (Ulimit, error) {
	name, values, ok := strings.Cut(s, "=")
	if !ok {
		return Ulimit{}, fmt.Errorf("invalid ulimit argument %q: want name=soft[:hard]", s)
	}
	if !ulimitNames[name] {
		return Ulimit{}, fmt.Errorf("invalid ulimit type %q", name)
	}
	parts := strings.Split(values, ":")
	if len(parts) > 2 {
		return Ulimit{}, fmt.Errorf("ulimit %q: too many values: want soft[:hard]", s)
	}
	soft, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return Ulimit{}, fmt.Errorf("ulimit %q: soft limit %q is not a number", s, parts[0])
	}
	hard := soft
	if len(parts) == 2 {
		if hard, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
			return Ulimit{}, fmt.Errorf("ulimit %q: hard limit %q is not a number", s, parts[1])
		}
	}
	u := Ulimit{Name: name, Soft: soft, Hard: hard}
	if err := u.check(); err != nil {
		return Ulimit{}, fmt.Errorf("ulimit %q: %w", s, err)
	}
	return u, nil
}

func (u Ulimit) check() error {
	if !ulimitNames[u.Name] {
		return fmt.Errorf("invalid ulimit type %q", u.Name)
	}
	// -1 is RLIM_INFINITY, above every finite limit.
	if u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard) {
		return fmt.Errorf("soft limit %d is above the hard limit %d", u.Soft, u.Hard)
	}
	if u.Soft < -1 || u.Hard < -1 {
		return errors.New("limits must not be below -1")
	}
	return nil
}

func rlimits(ulimits []Ulimit) ([]rspec.POSIXRlimit, error) {
	var out []rspec.POSIXRlimit
	index := map[string]int{}
	for _, u := range ulimits {
		if err := u.check(); err != nil {
			return nil, fmt.Errorf("ulimit %s: %w", u.Name, err)
		}
		r := rspec.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name),
			Soft: uint64(u.Soft), // -1 becomes RLIM_INFINITY
			Hard: uint64(u.Hard),
		}
		if i, ok := index[u.Name]; ok {
			out[i] = r // the last one given wins, as with Docker's flag
			continue
		}
		index[u.Name] = len(out)
		out = append(out, r)
	}
	return out, nil
}
