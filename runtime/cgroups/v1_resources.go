package cgroups

import (
	"fmt"
	"log/slog"
	"strconv"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// setDevicesV1 writes the device rules as runc does: deny everything, then
// each rule in order, so the last rule that matches a device wins.
func setDevicesV1(dir string, rules []rspec.LinuxDeviceCgroup) error {
	if err := writeFile(dir, "devices.deny", "a"); err != nil {
		return fmt.Errorf("linux.resources.devices: %w", err)
	}
	for i, d := range rules {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		for _, line := range deviceLinesV1(d) {
			if err := writeFile(dir, file, line); err != nil {
				return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
			}
		}
	}
	return nil
}

// deviceLinesV1 formats a rule for devices.allow/deny. The kernel reads
// type "a" as "every device" whatever numbers follow, so an "a" rule that
// names numbers or part of rwm becomes one rule for c and one for b.
func deviceLinesV1(d rspec.LinuxDeviceCgroup) []string {
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	nums := deviceNumber(d.Major) + ":" + deviceNumber(d.Minor)
	switch d.Type {
	case "", "a":
		if nums == "*:*" && hasAll(access) {
			return []string{"a"}
		}
		return []string{"c " + nums + " " + access, "b " + nums + " " + access}
	}
	return []string{d.Type + " " + nums + " " + access}
}

func deviceNumber(n *int64) string {
	if n == nil || *n == -1 {
		return "*"
	}
	return strconv.FormatInt(*n, 10)
}

func hasAll(access string) bool {
	var r, w, m bool
	for _, c := range access {
		switch c {
		case 'r':
			r = true
		case 'w':
			w = true
		case 'm':
			m = true
		}
	}
	return r && w && m
}

// setMemoryV1 writes the memory controller. A limit or swap of 0 means
// "unset", as runc reads it.
func setMemoryV1(dir string, mem *rspec.LinuxMemory) error {
	//lint:ignore SA1019 the field is read only to say it is ignored
	if mem.Kernel != nil {
		slog.Debug("linux.resources.memory.kernel is ignored: kernel memory limits are obsolete since Linux 5.4")
	}
	limit, swap := nonZero(mem.Limit), nonZero(mem.Swap)
	hasSwap := exists(dir + "/memory.memsw.limit_in_bytes")
	if swap != nil && !hasSwap {
		if *swap != -1 {
			return fmt.Errorf("linux.resources.memory.swap: swap accounting is off on this host (no %s/memory.memsw.limit_in_bytes): %w", dir, ErrNotSupported)
		}
		swap = nil
	}
	if limit != nil && *limit == -1 && swap == nil && hasSwap {
		unlimited := int64(-1) // an unlimited memory limit lifts the swap limit too
		swap = &unlimited
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && limit != nil && *limit > 0 {
		if err := checkUsage(dir, "memory.usage_in_bytes", *limit); err != nil {
			return err
		}
	}
	// memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes,
	// so when both change the order of the writes depends on the old limit.
	swapFirst := false
	if limit != nil && swap != nil {
		swapFirst = *swap == -1
		if !swapFirst {
			cur, err := readFile(dir, "memory.limit_in_bytes")
			if err != nil {
				return fmt.Errorf("linux.resources.memory: %w", err)
			}
			old, err := strconv.ParseUint(cur, 10, 64)
			if err != nil {
				return fmt.Errorf("linux.resources.memory: %s/memory.limit_in_bytes: %w", dir, err)
			}
			swapFirst = old <= uint64(*swap)
		}
	}
	type setting struct {
		field, file string
		v           *int64
	}
	settings := []setting{
		{"limit", "memory.limit_in_bytes", limit},
		{"swap", "memory.memsw.limit_in_bytes", swap},
		{"reservation", "memory.soft_limit_in_bytes", nonZero(mem.Reservation)},
		{"kernelTCP", "memory.kmem.tcp.limit_in_bytes", nonZero(mem.KernelTCP)},
	}
	if swapFirst {
		settings[0], settings[1] = settings[1], settings[0]
	}
	if mem.Swappiness != nil {
		v := int64(*mem.Swappiness)
		settings = append(settings, setting{"swappiness", "memory.swappiness", &v})
	}
	if mem.DisableOOMKiller != nil {
		settings = append(settings, setting{"disableOOMKiller", "memory.oom_control", boolInt(*mem.DisableOOMKiller)})
	}
	if mem.UseHierarchy != nil {
		settings = append(settings, setting{"useHierarchy", "memory.use_hierarchy", boolInt(*mem.UseHierarchy)})
	}
	for _, s := range settings {
		if s.v == nil {
			continue
		}
		if err := writeFile(dir, s.file, strconv.FormatInt(*s.v, 10)); err != nil {
			return fmt.Errorf("linux.resources.memory.%s: %w", s.field, err)
		}
	}
	return nil
}

// checkUsage refuses a memory limit below what the cgroup already uses
// (memory.checkBeforeUpdate).
func checkUsage(dir, file string, limit int64) error {
	s, err := readFile(dir, file)
	if err != nil {
		return fmt.Errorf("linux.resources.memory.checkBeforeUpdate: %w", err)
	}
	used, err := strconv.ParseInt(s, 10, 64)
	if err == nil && used > limit {
		return fmt.Errorf("linux.resources.memory.limit: %d is below the %d bytes the container uses now (checkBeforeUpdate)", limit, used)
	}
	return nil
}

func nonZero(v *int64) *int64 {
	if v == nil || *v == 0 {
		return nil
	}
	return v
}

func boolInt(b bool) *int64 {
	var v int64
	if b {
		v = 1
	}
	return &v
}

// setCPUExtraV1 writes what containerd's cgroup1 does not know.
func setCPUExtraV1(dir string, c *rspec.LinuxCPU) error {
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return fmt.Errorf("linux.resources.cpu.burst: %w", err)
		}
	}
	if c.Idle != nil {
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return fmt.Errorf("linux.resources.cpu.idle: %w", err)
		}
	}
	return nil
}

// pidsMax formats pids.limit: -1 is unlimited, 0 is really 0 (the
// runtime-spec's current reading).
func pidsMax(limit int64) string {
	if limit < 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// setBlkioWeightsV1 writes block I/O weights: to CFQ's files where the
// kernel still has them, else to BFQ's (CFQ left Linux in 5.0). Leaf
// weights exist only with CFQ.
func setBlkioWeightsV1(dir string, b *rspec.LinuxBlockIO) error {
	if b.Weight == nil && b.LeafWeight == nil && len(b.WeightDevice) == 0 {
		return nil
	}
	weight, weightDevice := "blkio.weight", "blkio.weight_device"
	if !exists(dir + "/" + weight) {
		weight, weightDevice = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if b.Weight != nil {
		if err := writeFile(dir, weight, strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return fmt.Errorf("linux.resources.blockIO.weight: %w", err)
		}
	}
	if b.LeafWeight != nil {
		if err := writeFile(dir, "blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10)); err != nil {
			return fmt.Errorf("linux.resources.blockIO.leafWeight (CFQ only): %w", err)
		}
	}
	for i, d := range b.WeightDevice {
		dev := strconv.FormatInt(d.Major, 10) + ":" + strconv.FormatInt(d.Minor, 10) + " "
		if d.Weight != nil {
			if err := writeFile(dir, weightDevice, dev+strconv.FormatUint(uint64(*d.Weight), 10)); err != nil {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d].weight: %w", i, err)
			}
		}
		if d.LeafWeight != nil {
			if err := writeFile(dir, "blkio.leaf_weight_device", dev+strconv.FormatUint(uint64(*d.LeafWeight), 10)); err != nil {
				return fmt.Errorf("linux.resources.blockIO.weightDevice[%d].leafWeight (CFQ only): %w", i, err)
			}
		}
	}
	return nil
}
