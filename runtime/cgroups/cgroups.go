// Package cgroups places a container in its control groups, applies
// linux.resources from config.json to them, and removes them on delete. It
// works on cgroup v1 (one directory per hierarchy, plus the empty unified
// hierarchy of a hybrid host, as runc does) and on cgroup v2, and picks
// one at run time. The file writing is containerd/cgroups' wherever its
// behaviour matches runc's; the rest (memory and swap order, pids, devices,
// block I/O weights, the v2 device filter, deletion) is done here.
package cgroups

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/cgroups/v3"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager is one container's cgroup.
type Manager interface {
	// Apply creates the cgroup (in every hierarchy on v1) and moves pid
	// into it. Call Set next, before the process runs the container's
	// program.
	Apply(pid int) error
	// Create makes the cgroup without moving any process into it, for a
	// process that is then started inside it (see Placement).
	Create() error
	// Placement says how a process started after Create can enter the
	// cgroup without being moved as a whole thread group, a move that
	// costs one kernel RCU grace period (milliseconds) per container:
	// cloneDir is the v2 directory to clone it into (CLONE_INTO_CGROUP),
	// "" on a pure v1 host; tasks are the v1 "tasks" files to which the
	// process writes "0" from the thread that will exec, which moves just
	// that thread, without the grace period.
	Placement() (cloneDir string, tasks []string)
	// Set applies resources; it is also how `update` changes a running
	// container. Fields left nil are not touched.
	Set(r *rspec.LinuxResources) error
	// AddProc moves one more process (an exec) into the cgroup.
	AddProc(pid int) error
	// Procs lists every process in the cgroup and in the cgroups below it.
	Procs() ([]int, error)
	Freeze() error
	Thaw() error
	Paused() (bool, error)
	Stats() (*Stats, error)
	// OOM returns a notifier whose Wait returns each time the kernel's
	// OOM killer acts in the cgroup.
	OOM() (*OOMNotifier, error)
	// OOMKills counts the processes the OOM killer has killed in the
	// cgroup (0 without a memory controller).
	OOMKills() (uint64, error)
	// Delete removes every directory of the cgroup, in every hierarchy,
	// with any child cgroups the container made. A cgroup that is already
	// gone is not an error; one with processes left is.
	Delete() error
	// Path is the resolved cgroup, to keep in the container's state and
	// hand to Load later.
	Path() string
}

// Errors callers match with errors.Is.
var (
	// ErrSystemd is returned when the systemd driver cannot be used: no
	// systemd on this host, or a systemd path without --systemd-cgroup.
	ErrSystemd = errors.New("systemd cgroup driver unavailable")
	// ErrNotSupported wraps a resource this host or driver cannot apply.
	ErrNotSupported = errors.New("not supported")
)

const (
	mountRoot  = "/sys/fs/cgroup"         // v1 hierarchies below it, or the v2 root itself
	hybridRoot = "/sys/fs/cgroup/unified" // the v2 hierarchy of a hybrid host
)

// New resolves a container's linux.cgroupsPath as runc does: "" is
// /xrt/<id>; an absolute path is taken from each hierarchy's root; a
// relative one is placed under this process's own cgroup in each
// hierarchy. Nothing is created until Apply.
func New(cgroupsPath, id string) (Manager, error) {
	p, err := resolve(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	return newFS(p)
}

// newFS is the cgroupfs manager of a resolved cgroup, v1 or v2 as the
// host has it.
func newFS(p location) (Manager, error) {
	switch cgroups.Mode() {
	case cgroups.Unified:
		return newV2(mountRoot, p)
	case cgroups.Legacy, cgroups.Hybrid:
		return &v1{loc: p, hybrid: cgroups.Mode() == cgroups.Hybrid}, nil
	}
	return nil, fmt.Errorf("no cgroup file system mounted at %s", mountRoot)
}

// Load reopens a cgroup from the path Manager.Path returned, in a later
// process (delete, kill --all, pause, update), with the driver that made
// it.
func Load(path string) (Manager, error) {
	if strings.HasPrefix(path, statePrefix) {
		return loadSystemd(path)
	}
	loc, err := parseLocation(path)
	if err != nil {
		return nil, err
	}
	switch cgroups.Mode() {
	case cgroups.Unified:
		if loc.byHierarchy != nil {
			return nil, fmt.Errorf("cgroup path %q: per-hierarchy paths on a cgroup v2 host", path)
		}
		return &v2{mount: mountRoot, group: loc.path}, nil
	case cgroups.Legacy, cgroups.Hybrid:
		return &v1{loc: loc, hybrid: cgroups.Mode() == cgroups.Hybrid}, nil
	}
	return nil, fmt.Errorf("no cgroup file system mounted at %s", mountRoot)
}
