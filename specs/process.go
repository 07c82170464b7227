package specs

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
)

// ValidateProcess checks a process on its own, as `xrt exec --process`
// reads it; errors name the field as in config.json.
func ValidateProcess(p *rspec.Process) error {
	return checkProcess(&rspec.Spec{Process: p}, "")
}

func checkProcess(s *rspec.Spec, _ string) error {
	p := s.Process
	if p == nil {
		return fieldErr("process", "required")
	}
	if len(p.Args) == 0 {
		return fieldErr("process.args", "must not be empty")
	}
	if p.Args[0] == "" {
		return fieldErr("process.args[0]", "must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fieldErr("process.cwd", "must be an absolute path, got %q", p.Cwd)
	}
	for i, e := range p.Env {
		name, _, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return fieldErr(fmt.Sprintf("process.env[%d]", i), "%q is not NAME=VALUE", e)
		}
		if strings.IndexByte(e, 0) >= 0 {
			return fieldErr(fmt.Sprintf("process.env[%d]", i), "contains a NUL byte")
		}
	}
	if err := checkUser(&p.User); err != nil {
		return err
	}
	if err := checkCapabilities(p.Capabilities); err != nil {
		return err
	}
	if err := checkRlimits(p.Rlimits); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fieldErr("process.oomScoreAdj", "%d is outside -1000..1000", *p.OOMScoreAdj)
	}
	if io := p.IOPriority; io != nil {
		switch io.Class {
		case rspec.IOPRIO_CLASS_RT, rspec.IOPRIO_CLASS_BE, rspec.IOPRIO_CLASS_IDLE:
		default:
			return fieldErr("process.ioPriority.class", "unknown class %q", io.Class)
		}
		if io.Priority < 0 || io.Priority > 7 {
			return fieldErr("process.ioPriority.priority", "%d is outside 0..7", io.Priority)
		}
	}
	if err := checkScheduler(p.Scheduler); err != nil {
		return err
	}
	// As runc: a label that cannot be applied is an error now, not at exec.
	if p.SelinuxLabel != "" && !selinux.GetEnabled() {
		return fieldErr("process.selinuxLabel", "SELinux is not enabled on this host")
	}
	return nil
}

func checkUser(u *rspec.User) error {
	// -1 means "leave unchanged" to setresuid(2), so it cannot be an id.
	const invalid = math.MaxUint32
	if u.UID == invalid {
		return fieldErr("process.user.uid", "%d is not a valid id", u.UID)
	}
	if u.GID == invalid {
		return fieldErr("process.user.gid", "%d is not a valid id", u.GID)
	}
	for i, g := range u.AdditionalGids {
		if g == invalid {
			return fieldErr(fmt.Sprintf("process.user.additionalGids[%d]", i), "%d is not a valid id", g)
		}
	}
	if u.Umask != nil && *u.Umask > 0o777 {
		return fieldErr("process.user.umask", "%#o has bits outside 0777", *u.Umask)
	}
	return nil
}

func checkCapabilities(c *rspec.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	sets := [...]struct {
		name string
		caps []string
	}{
		{"bounding", c.Bounding},
		{"effective", c.Effective},
		{"inheritable", c.Inheritable},
		{"permitted", c.Permitted},
		{"ambient", c.Ambient},
	}
	for _, set := range sets {
		for i, name := range set.caps {
			if _, ok := Capabilities[name]; !ok {
				return fieldErr(fmt.Sprintf("process.capabilities.%s[%d]", set.name, i), "unknown capability %q", name)
			}
		}
	}
	return nil
}

func checkRlimits(rl []rspec.POSIXRlimit) error {
	var seen uint64 // bit n: resource n already set
	for i, r := range rl {
		n, ok := Rlimits[r.Type]
		if !ok {
			return fieldErr(fmt.Sprintf("process.rlimits[%d].type", i), "unknown rlimit %q", r.Type)
		}
		if seen&(1<<n) != 0 {
			return fieldErr(fmt.Sprintf("process.rlimits[%d].type", i), "duplicate rlimit %q", r.Type)
		}
		seen |= 1 << n
		if r.Soft > r.Hard {
			return fieldErr(fmt.Sprintf("process.rlimits[%d].soft", i), "%d exceeds the hard limit %d", r.Soft, r.Hard)
		}
	}
	return nil
}

// checkScheduler follows the rules of sched_setattr(2), as runc does.
func checkScheduler(sc *rspec.Scheduler) error {
	if sc == nil {
		return nil
	}
	switch sc.Policy {
	case "":
		return fieldErr("process.scheduler.policy", "required")
	case rspec.SchedOther, rspec.SchedFIFO, rspec.SchedRR, rspec.SchedBatch,
		rspec.SchedISO, rspec.SchedIdle, rspec.SchedDeadline:
	default:
		return fieldErr("process.scheduler.policy", "unknown policy %q", sc.Policy)
	}
	if sc.Nice < -20 || sc.Nice > 19 {
		return fieldErr("process.scheduler.nice", "%d is outside -20..19", sc.Nice)
	}
	if sc.Priority != 0 && sc.Policy != rspec.SchedFIFO && sc.Policy != rspec.SchedRR {
		return fieldErr("process.scheduler.priority", "only SCHED_FIFO and SCHED_RR take a priority")
	}
	if sc.Policy != rspec.SchedDeadline && (sc.Runtime != 0 || sc.Deadline != 0 || sc.Period != 0) {
		return fieldErr("process.scheduler", "runtime, deadline and period are only for SCHED_DEADLINE")
	}
	for i, f := range sc.Flags {
		switch f {
		case rspec.SchedFlagResetOnFork, rspec.SchedFlagReclaim, rspec.SchedFlagDLOverrun,
			rspec.SchedFlagKeepPolicy, rspec.SchedFlagKeepParams,
			rspec.SchedFlagUtilClampMin, rspec.SchedFlagUtilClampMax:
		default:
			return fieldErr(fmt.Sprintf("process.scheduler.flags[%d]", i), "unknown flag %q", f)
		}
	}
	return nil
}
