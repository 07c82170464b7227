package cgroups

import (
	"bufio"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func newProp(name string, value any) sdbus.Property {
	return sdbus.Property{Name: name, Value: dbus.MakeVariant(value)}
}

// infinity is systemd's "no limit" for the uint64 properties.
const infinity = uint64(math.MaxUint64)

// systemdVersion asks systemd its version ("252.19-1~deb12u1" gives 252),
// 0 when it cannot be read: properties newer than systemd 240 are then
// left to the cgroup files.
func systemdVersion(bus unitBus) int {
	s, err := bus.GetManagerProperty("Version")
	if err != nil {
		return 0
	}
	s = strings.TrimLeft(s, `"v`)
	end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		s = s[:end]
	}
	n, _ := strconv.Atoi(s)
	return n
}

// unitProperties turns the resources systemd has properties for into
// them, for systemd at version (0: unknown). What it cannot express is
// left to the cgroup files, written after it in any case.
func unitProperties(r *rspec.LinuxResources, v2 bool, version int) []sdbus.Property {
	var props []sdbus.Property
	add := func(name string, v any) { props = append(props, newProp(name, v)) }
	if mem := r.Memory; mem != nil {
		limit := nonZero(mem.Limit)
		if limit != nil {
			if v2 {
				add("MemoryMax", limitValue(*limit))
			} else {
				add("MemoryLimit", limitValue(*limit))
			}
		}
		if res := nonZero(mem.Reservation); res != nil && v2 {
			add("MemoryLow", limitValue(*res))
		}
		if swap := nonZero(mem.Swap); swap != nil && v2 {
			switch {
			case *swap == -1:
				add("MemorySwapMax", infinity)
			case limit != nil && *limit > 0 && *swap >= *limit:
				add("MemorySwapMax", uint64(*swap-*limit)) // v2 limits swap apart from memory
			}
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil {
			if v2 {
				add("CPUWeight", sharesToWeight(*c.Shares))
			} else {
				add("CPUShares", *c.Shares)
			}
		}
		quota := nonZero(c.Quota)
		if c.Period != nil && version >= 242 {
			add("CPUQuotaPeriodUSec", *c.Period)
		}
		if quota != nil {
			period := uint64(100000) // the kernel's default
			if c.Period != nil {
				period = *c.Period
			}
			add("CPUQuotaPerSecUSec", quotaPerSec(*quota, period))
		}
		if v2 && version >= 244 {
			if c.Cpus != "" {
				if bits, err := cpuBits(c.Cpus); err == nil {
					add("AllowedCPUs", bits)
				}
			}
			if c.Mems != "" {
				if bits, err := cpuBits(c.Mems); err == nil {
					add("AllowedMemoryNodes", bits)
				}
			}
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && (*p.Limit > 0 || *p.Limit == -1) {
		add("TasksMax", limitValue(*p.Limit))
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		if v2 {
			add("IOWeight", ioWeight(uint64(*b.Weight)))
		} else {
			add("BlockIOWeight", uint64(*b.Weight))
		}
	}
	if len(r.Devices) > 0 {
		props = append(props, deviceProperties(r.Devices)...)
	}
	return props
}

func limitValue(v int64) uint64 {
	if v < 0 {
		return infinity
	}
	return uint64(v)
}

// quotaPerSec converts a quota per period into systemd's CPU time per
// second, rounded up to the 10ms steps systemd keeps (it would round
// down, giving the container less than asked).
func quotaPerSec(quota int64, period uint64) uint64 {
	if quota < 0 || period == 0 {
		return infinity
	}
	perSec := uint64(quota) * 1000000 / period
	if rem := perSec % 10000; rem != 0 {
		perSec += 10000 - rem
	}
	return perSec
}

// cpuBits turns a cpuset list ("0-3,5") into the little-endian bitmask
// systemd's AllowedCPUs takes.
func cpuBits(list string) ([]byte, error) {
	if err := checkList(list); err != nil {
		return nil, err
	}
	var bits []byte
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, _ := strconv.ParseUint(lo, 10, 32)
		b := a
		if isRange {
			b, _ = strconv.ParseUint(hi, 10, 32)
		}
		for i := a; i <= b; i++ {
			for uint64(len(bits)) <= i/8 {
				bits = append(bits, 0)
			}
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return bits, nil
}

// deviceAllow is one DeviceAllow= entry, D-Bus type (ss).
type deviceAllow struct {
	Path  string
	Perms string
}

// deviceProperties expresses device rules as DevicePolicy and DeviceAllow,
// so that systemd, when it re-applies the unit's settings, does not open
// every device again. systemd knows only allow lists: a deny rule other
// than "deny everything" is left to the cgroup (v1 file or v2 program)
// written after.
func deviceProperties(rules []rspec.LinuxDeviceCgroup) []sdbus.Property {
	policy := "auto" // auto with no DeviceAllow: no restriction
	allow := []deviceAllow{}
	open := true
	for _, d := range rules {
		every := (d.Type == "" || d.Type == "a") && deviceNumber(d.Major) == "*" && deviceNumber(d.Minor) == "*"
		if every && hasAll(accessOf(d)) {
			open = d.Allow
			allow = allow[:0]
			policy = "auto"
			if !d.Allow {
				policy = "strict"
			}
			continue
		}
		if !d.Allow {
			slog.Debug("systemd cannot express a device deny rule; the cgroup files carry it", "rule", deviceLinesV1(d))
			continue
		}
		if open {
			continue // already allowed
		}
		types := []string{d.Type}
		if d.Type == "" || d.Type == "a" {
			types = []string{"c", "b"}
		}
		for _, typ := range types {
			if p := devicePath(typ, d.Major, d.Minor); p != "" {
				allow = append(allow, deviceAllow{p, accessOf(d)})
			}
		}
	}
	return []sdbus.Property{newProp("DevicePolicy", policy), newProp("DeviceAllow", allow)}
}

func accessOf(d rspec.LinuxDeviceCgroup) string {
	if d.Access == "" {
		return "rwm"
	}
	return d.Access
}

// devicePath names devices as DeviceAllow does: /dev/char/M:m for one
// device, char-NAME (NAME from /proc/devices) for a major number, char-*
// for all; "" when there is no such name.
func devicePath(typ string, major, minor *int64) string {
	kind := "char"
	if typ == "b" {
		kind = "block"
	}
	switch {
	case deviceNumber(major) == "*":
		return kind + "-*"
	case deviceNumber(minor) == "*":
		if name := majorName(kind, *major); name != "" {
			return kind + "-" + name
		}
		return ""
	}
	return "/dev/" + kind + "/" + deviceNumber(major) + ":" + deviceNumber(minor)
}

// majorName finds the driver name of a major number in /proc/devices.
func majorName(kind string, major int64) string {
	f, err := os.Open("/proc/devices")
	if err != nil {
		return ""
	}
	defer f.Close()
	section := ""
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		switch line {
		case "Character devices:":
			section = "char"
			continue
		case "Block devices:":
			section = "block"
			continue
		}
		num, name, ok := strings.Cut(line, " ")
		if ok && section == kind && num == strconv.FormatInt(major, 10) {
			return name
		}
	}
	return ""
}
