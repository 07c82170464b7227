package bundle

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/specs"
)

// DefaultCapabilities is Docker's default capability set, in its order.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func setCapabilities(s *rspec.Spec, o *Options) error {
	caps, err := capabilities(o.CapAdd, o.CapDrop, o.Privileged)
	if err != nil {
		return err
	}
	s.Process.Capabilities = &rspec.LinuxCapabilities{
		Bounding:  caps,
		Effective: slices.Clone(caps),
		Permitted: slices.Clone(caps),
	}
	return nil
}

// capabilities applies Docker's rules: privileged gets every capability;
// "ALL" in add is every capability but the dropped ones; "ALL" in drop is
// only the added ones; else the defaults minus drop plus add.
func capabilities(add, drop []string, privileged bool) ([]string, error) {
	if privileged {
		return allCapabilities(), nil
	}
	add, err := normalizeCaps(add)
	if err != nil {
		return nil, fmt.Errorf("cap-add: %w", err)
	}
	drop, err = normalizeCaps(drop)
	if err != nil {
		return nil, fmt.Errorf("cap-drop: %w", err)
	}
	var caps []string
	switch {
	case slices.Contains(add, "ALL"):
		for _, c := range allCapabilities() {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(drop, "ALL"):
		caps = add
	default:
		for _, c := range DefaultCapabilities {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, add...)
	}
	return dedupe(caps), nil
}

// normalizeCaps upper-cases names and adds "CAP_"; an unknown name is an
// error naming it.
func normalizeCaps(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		c := strings.ToUpper(strings.TrimSpace(n))
		if c == "ALL" {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if _, ok := specs.Capabilities[c]; !ok {
			return nil, fmt.Errorf("unknown capability: %q", n)
		}
		out = append(out, c)
	}
	return out, nil
}

// allCapabilities is every capability the running kernel knows that this
// process may pass on: the runtime, started by us, cannot grant one
// outside its bounding set (as when the manager itself runs confined).
func allCapabilities() []string {
	names := specs.CapabilityNames()
	if last := specs.LastCap(); last+1 < len(names) {
		names = names[:last+1]
	}
	bounding, ok := boundingSet()
	if !ok {
		return names
	}
	return slices.DeleteFunc(names, func(c string) bool { return bounding&(1<<specs.Capabilities[c]) == 0 })
}

// boundingSet reads this process's capability bounding set.
func boundingSet() (uint64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
