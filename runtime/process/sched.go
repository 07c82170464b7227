package process

import (
	"fmt"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var ioprioClasses = map[rspec.IOPriorityClass]uint32{
	rspec.IOPRIO_CLASS_RT:   1,
	rspec.IOPRIO_CLASS_BE:   2,
	rspec.IOPRIO_CLASS_IDLE: 3,
}

const (
	ioprioWhoProcess = 1  // IOPRIO_WHO_PROCESS
	ioprioClassShift = 13 // IOPRIO_CLASS_SHIFT
)

// ioprio packs process.ioPriority into the value ioprio_set takes.
func ioprio(p *rspec.LinuxIOPriority) (uint32, error) {
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return 0, fmt.Errorf("process.ioPriority.class: unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return 0, fmt.Errorf("process.ioPriority.priority %d: not between 0 and 7", p.Priority)
	}
	return class<<ioprioClassShift | uint32(p.Priority), nil
}

// SetIOPriority sets the I/O scheduling class and priority of the calling
// thread (which execve passes on); nil leaves it alone. The real-time class
// needs CAP_SYS_ADMIN.
func SetIOPriority(p *rspec.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	v, err := ioprio(p)
	if err != nil {
		return err
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(v)); errno != 0 {
		return fmt.Errorf("process.ioPriority %s/%d: ioprio_set: %w", p.Class, p.Priority, errno)
	}
	return nil
}

var schedPolicies = map[rspec.LinuxSchedulerPolicy]uint32{
	rspec.SchedOther:    unix.SCHED_NORMAL,
	rspec.SchedFIFO:     unix.SCHED_FIFO,
	rspec.SchedRR:       unix.SCHED_RR,
	rspec.SchedBatch:    unix.SCHED_BATCH,
	rspec.SchedISO:      4, // reserved by Linux, which refuses it
	rspec.SchedIdle:     unix.SCHED_IDLE,
	rspec.SchedDeadline: unix.SCHED_DEADLINE,
}

var schedFlags = map[rspec.LinuxSchedulerFlag]uint64{
	rspec.SchedFlagResetOnFork:  unix.SCHED_FLAG_RESET_ON_FORK,
	rspec.SchedFlagReclaim:      unix.SCHED_FLAG_RECLAIM,
	rspec.SchedFlagDLOverrun:    unix.SCHED_FLAG_DL_OVERRUN,
	rspec.SchedFlagKeepPolicy:   unix.SCHED_FLAG_KEEP_POLICY,
	rspec.SchedFlagKeepParams:   unix.SCHED_FLAG_KEEP_PARAMS,
	rspec.SchedFlagUtilClampMin: unix.SCHED_FLAG_UTIL_CLAMP_MIN,
	rspec.SchedFlagUtilClampMax: unix.SCHED_FLAG_UTIL_CLAMP_MAX,
}

// schedAttr packs process.scheduler into a struct sched_attr.
func schedAttr(s *rspec.Scheduler) (unix.SchedAttr, error) {
	policy, ok := schedPolicies[s.Policy]
	if !ok {
		return unix.SchedAttr{}, fmt.Errorf("process.scheduler.policy: unknown policy %q", s.Policy)
	}
	if s.Nice < -20 || s.Nice > 19 {
		return unix.SchedAttr{}, fmt.Errorf("process.scheduler.nice %d: not between -20 and 19", s.Nice)
	}
	if s.Priority < 0 {
		return unix.SchedAttr{}, fmt.Errorf("process.scheduler.priority %d: negative", s.Priority)
	}
	a := unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   policy,
		Nice:     s.Nice,
		Priority: uint32(s.Priority),
		Runtime:  s.Runtime,
		Deadline: s.Deadline,
		Period:   s.Period,
	}
	for _, f := range s.Flags {
		v, ok := schedFlags[f]
		if !ok {
			return unix.SchedAttr{}, fmt.Errorf("process.scheduler.flags: unknown flag %q", f)
		}
		a.Flags |= v
	}
	return a, nil
}

// SetScheduler sets the scheduling policy and its parameters on the calling
// thread with sched_setattr (execve keeps them); nil leaves them alone.
// Real-time and deadline policies need CAP_SYS_NICE.
func SetScheduler(s *rspec.Scheduler) error {
	if s == nil {
		return nil
	}
	a, err := schedAttr(s)
	if err != nil {
		return err
	}
	if err := unix.SchedSetAttr(0, &a, 0); err != nil {
		return fmt.Errorf("process.scheduler (policy %s, nice %d, priority %d): sched_setattr: %w", s.Policy, s.Nice, s.Priority, err)
	}
	return nil
}
