package caps

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/specs"
)

// DropBounding removes from the calling thread's bounding set every
// capability that s.Bounding does not name. It needs CAP_SETPCAP, so it runs
// before the uid change. Capabilities already absent are skipped, which also
// lets an unprivileged caller drop nothing without an error.
func (s Set) DropBounding() error {
	last := specs.LastCap()
	for n := 0; n <= last; n++ {
		if s.Bounding&(1<<n) != 0 {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("reading %s in the bounding set: %w", name(n), err)
		}
		if in == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping %s from the bounding set: %w", name(n), err)
		}
	}
	return nil
}

// Apply sets the effective, permitted and inheritable sets of the calling
// thread, then replaces its ambient set with s.Ambient. It runs after the
// uid change (with keepcaps set before it, so that the permitted set
// survived). An ambient capability is raised only when it is both permitted
// and inheritable, as the kernel requires; others are skipped.
func (s Set) Apply() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	// Version 3 takes two 32-bit words per set: capabilities 0-31, then 32-63.
	data := [2]unix.CapUserData{
		{Effective: uint32(s.Effective), Permitted: uint32(s.Permitted), Inheritable: uint32(s.Inheritable)},
		{Effective: uint32(s.Effective >> 32), Permitted: uint32(s.Permitted >> 32), Inheritable: uint32(s.Inheritable >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("setting process.capabilities: %w%s", err, s.why())
		}
		return fmt.Errorf("setting process.capabilities: %w", err)
	}

	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		// Kernels before 4.3 have no ambient set: fine unless one is wanted.
		if !errors.Is(err, unix.EINVAL) || s.Ambient != 0 {
			return fmt.Errorf("clearing the ambient capabilities: %w", err)
		}
		return nil
	}
	raise := s.Ambient & s.Permitted & s.Inheritable
	for n := 0; raise != 0; n++ {
		if raise&(1<<n) == 0 {
			continue
		}
		raise &^= 1 << n
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil {
			return fmt.Errorf("process.capabilities.ambient: raising %s: %w", name(n), err)
		}
	}
	return nil
}

// Check tells, while init still holds every capability of the runtime,
// whether Apply can give the process what the config asks: a set the
// runtime cannot grant is a create error, not a failure at start.
func (s Set) Check() error {
	if msg := s.why(); msg != "" {
		return fmt.Errorf("process.capabilities cannot be granted: %s", strings.TrimPrefix(msg, "; "))
	}
	return nil
}

// why explains a refused capset by comparing s with what the thread holds.
// It runs only on the error path.
func (s Set) why() string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if unix.Capget(&hdr, &cur[0]) != nil {
		return ""
	}
	perm := uint64(cur[0].Permitted) | uint64(cur[1].Permitted)<<32
	inh := uint64(cur[0].Inheritable) | uint64(cur[1].Inheritable)<<32
	eff := uint64(cur[0].Effective) | uint64(cur[1].Effective)<<32
	var bset uint64
	for n := 0; n < 64; n++ {
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err != nil {
			break
		} else if in == 1 {
			bset |= 1 << n
		}
	}
	var msg string
	if m := s.Bounding &^ bset; m != 0 {
		msg += "; bounding but outside the runtime's bounding set: " + names(m)
	}
	if m := s.Effective &^ s.Permitted; m != 0 {
		msg += "; effective but not permitted: " + names(m)
	}
	if m := s.Permitted &^ perm; m != 0 {
		msg += "; permitted but not held by the runtime: " + names(m)
	}
	if m := s.Inheritable &^ (inh | bset); m != 0 {
		msg += "; inheritable but outside the bounding set: " + names(m)
	}
	// Without CAP_SETPCAP the inheritable set can only take permitted caps.
	if m := s.Inheritable &^ (inh | perm); m != 0 && eff&(1<<unix.CAP_SETPCAP) == 0 {
		msg += "; inheritable but not held by the runtime: " + names(m)
	}
	return msg
}
