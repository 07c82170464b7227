// Package caps turns the capability lists of config.json into bit masks and
// applies them to the thread that is about to exec the container's process.
//
// Capabilities are per-thread in Linux: the bounding set, the capset sets and
// the ambient set all live in the calling thread's credentials. Every call
// here must therefore run on the OS thread that later calls execve (the init
// holds runtime.LockOSThread for that reason).
//
// The init uses this package in two steps around the uid change:
//
//	s.DropBounding()          // while still root: needs CAP_SETPCAP
//	process.SetKeepCaps(true) // keep the permitted set across setuid
//	process.SetUser(...)
//	s.Apply()                 // eff/perm/inh, then ambient
package caps

import (
	"fmt"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/specs"
)

// Set holds the five capability sets as bit masks: bit n is capability n.
type Set struct {
	Bounding    uint64
	Effective   uint64
	Permitted   uint64
	Inheritable uint64
	Ambient     uint64
}

// Parse turns process.capabilities into a Set. An unknown name is an error;
// a known capability that the running kernel lacks is left out, as runc does.
// A nil c gives the empty Set: no capabilities at all.
func Parse(c *rspec.LinuxCapabilities) (Set, error) {
	return parse(c, specs.LastCap())
}

func parse(c *rspec.LinuxCapabilities, last int) (Set, error) {
	var s Set
	if c == nil {
		return s, nil
	}
	lists := []struct {
		field string
		names []string
		mask  *uint64
	}{
		{"bounding", c.Bounding, &s.Bounding},
		{"effective", c.Effective, &s.Effective},
		{"permitted", c.Permitted, &s.Permitted},
		{"inheritable", c.Inheritable, &s.Inheritable},
		{"ambient", c.Ambient, &s.Ambient},
	}
	for _, l := range lists {
		for _, name := range l.names {
			n, ok := specs.Capabilities[name]
			if !ok {
				return Set{}, fmt.Errorf("process.capabilities.%s: unknown capability %q", l.field, name)
			}
			if n <= last {
				*l.mask |= 1 << n
			}
		}
	}
	return s, nil
}

// name returns the config.json name of capability n, or "cap_<n>" when the
// table does not know it.
func name(n int) string {
	if all := specs.CapabilityNames(); n < len(all) {
		return all[n]
	}
	return "cap_" + strconv.Itoa(n)
}

// names lists the capabilities in mask, for error messages.
func names(mask uint64) string {
	var b strings.Builder
	for n := 0; n < 64; n++ {
		if mask&(1<<n) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(name(n))
	}
	return b.String()
}
