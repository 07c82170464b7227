// Package process applies the process section of config.json to the
// container's init just before it execs the user's program: resource limits,
// OOM score, I/O and CPU scheduling, user and groups, file descriptors, the
// working directory and the lookup of args[0].
//
// Many of these settings are per thread in Linux (scheduler, I/O priority,
// keepcaps, no_new_privs, capabilities, LSM exec labels), so the init calls
// them on the OS thread that will call execve, with runtime.LockOSThread
// held. The order, which follows runc, is:
//
//	process.SetRlimits(p.Rlimits)
//	process.SetOOMScoreAdj(0, p.OOMScoreAdj) // or from the parent
//	process.SetIOPriority(p.IOPriority)
//	process.SetScheduler(p.Scheduler)
//	lsm.SetExecLabels(p)
//	set.DropBounding()              // still root: needs CAP_SETPCAP
//	process.SetKeepCaps(true)       // keep the permitted set across setuid
//	process.SetUser(p.User)
//	unix.Umask(...)
//	set.Apply()                     // eff/perm/inh, then ambient
//	process.SetNoNewPrivileges()    // if p.NoNewPrivileges
//	(seccomp), execve
package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SetUser sets the supplementary groups, gid and uid of every thread of the
// process (Go's syscall package runs these on all threads). The groups are
// replaced even when additionalGids is empty, so that the runtime's own
// groups do not leak; they are left alone only where the user namespace
// forbids setgroups. Call SetKeepCaps(true) first to keep capabilities.
func SetUser(u rspec.User) error {
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	// syscall.Setgroups, unlike unix.Setgroups, applies to all threads.
	if err := syscall.Setgroups(gids); err != nil && !(errors.Is(err, unix.EPERM) && setgroupsDenied()) {
		return fmt.Errorf("process.user.additionalGids %v: setgroups: %w", u.AdditionalGids, err)
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("process.user.gid %d: setresgid: %w", u.GID, err)
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("process.user.uid %d: setresuid: %w", u.UID, err)
	}
	return nil
}

// setgroupsDenied reports whether this user namespace has setgroups
// disabled (/proc/self/setgroups says "deny"). Read only on failure.
func setgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && bytes.Equal(bytes.TrimSpace(b), []byte("deny"))
}

// SetKeepCaps sets or clears PR_SET_KEEPCAPS on the calling thread: with it
// set, the permitted capabilities survive the change from uid 0 to another
// uid. execve clears it again.
func SetKeepCaps(on bool) error {
	var v uintptr
	if on {
		v = 1
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, v, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS, %d): %w", v, err)
	}
	return nil
}

// SetNoNewPrivileges sets no_new_privs on the calling thread (and what it
// execs): setuid bits and file capabilities no longer grant anything.
func SetNoNewPrivileges() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return nil
}
