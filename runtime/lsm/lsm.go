// Package lsm sets the Linux security module labels that the container's
// process takes on at execve: the SELinux exec label (process.selinuxLabel)
// and the AppArmor profile (process.apparmorProfile).
//
// Both are per-thread attributes (/proc/thread-self/attr/...): the kernel
// applies the one of the thread that calls execve. SetExecLabels must
// therefore run on that thread, with runtime.LockOSThread held from the
// call until execve; written from another thread the label is silently
// lost.
//
// As runc does, a label that the host cannot apply is an error rather than
// something to ignore: a user who asked for confinement does not get a
// container without it. Check reports this before the container is built.
package lsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"
)

const (
	appArmorParam = "/sys/module/apparmor/parameters/enabled"
	threadSelf    = "/proc/thread-self"
)

// AppArmorEnabled reports whether the host kernel runs AppArmor. It reads
// /sys, so call it from the host side (before pivot_root).
func AppArmorEnabled() bool {
	return appArmorEnabled(appArmorParam)
}

func appArmorEnabled(param string) bool {
	b, err := os.ReadFile(param)
	return err == nil && bytes.HasPrefix(b, []byte("Y"))
}

// Check reports an error when p asks for a label that this host cannot
// apply. It reads /sys and the mount table, so the runtime calls it on the
// host side at create, where the error is cheap and early.
func Check(p *rspec.Process) error {
	if p == nil {
		return nil
	}
	if p.SelinuxLabel != "" && !selinux.GetEnabled() {
		return selinuxDisabled(p.SelinuxLabel)
	}
	if p.ApparmorProfile != "" && !AppArmorEnabled() {
		return appArmorDisabled(p.ApparmorProfile)
	}
	return nil
}

func selinuxDisabled(label string) error {
	return fmt.Errorf("process.selinuxLabel: selinux label %q requested but SELinux is not enabled on this host", label)
}

func appArmorDisabled(profile string) error {
	return fmt.Errorf("process.apparmorProfile: apparmor profile %q requested but AppArmor is not enabled on this host", profile)
}

// SetExecLabels sets the SELinux exec label and the AppArmor exec profile
// that p asks for on the calling thread; they take effect at its next
// execve. It only writes /proc/thread-self, so it works after pivot_root
// without /sys; the host is asked why only when a write fails.
func SetExecLabels(p *rspec.Process) error {
	if p == nil {
		return nil
	}
	if l := p.SelinuxLabel; l != "" {
		if err := selinux.SetExecLabel(l); err != nil {
			if !selinux.GetEnabled() {
				return selinuxDisabled(l)
			}
			return fmt.Errorf("process.selinuxLabel %q: %w", l, err)
		}
	}
	if prof := p.ApparmorProfile; prof != "" {
		if err := setAppArmorExec(threadSelf, prof); err != nil {
			if !AppArmorEnabled() {
				return appArmorDisabled(prof)
			}
			return fmt.Errorf("process.apparmorProfile %q: %w", prof, err)
		}
	}
	return nil
}

// setAppArmorExec asks AppArmor to switch to profile at the next exec. It
// writes the AppArmor-specific attribute (Linux 5.8+, where several LSMs
// can be stacked) and falls back to the shared one on older kernels.
func setAppArmorExec(proc, profile string) error {
	cmd := []byte("exec " + profile)
	err := writeAttr(proc+"/attr/apparmor/exec", cmd)
	if errors.Is(err, unix.ENOENT) {
		err = writeAttr(proc+"/attr/exec", cmd)
	}
	return err
}

// writeAttr writes b in one write(2): the kernel takes an attribute write
// as a whole command.
func writeAttr(path string, b []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, b)
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	if n != len(b) {
		return &os.PathError{Op: "write", Path: path, Err: unix.EIO}
	}
	return nil
}
