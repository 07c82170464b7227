package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/cgroups"
	"github.com/xrt-dev/xrt/specs"
)

// Kill sends sig to the container's init, or with all to every process of
// the container.
func (c *Container) Kill(sig unix.Signal, all bool) error {
	st := c.Status()
	switch st {
	case rspec.StateCreated, rspec.StateRunning, StatePaused:
	case rspec.StateStopped:
		if all {
			// As runc: --all sweeps what is left in the cgroup of a
			// stopped container, and finding nothing is no error. The
			// CRI sends it after a pod container's init has exited.
			return c.signalLeftovers(sig)
		}
		// runc's words: containerd's shim reads "container not running"
		// as "already finished", any other message as a failed kill.
		return fmt.Errorf("cannot kill container %s: container not running: %w", c.ID, ErrState)
	default:
		return fmt.Errorf("cannot kill container %s: it is %s: %w", c.ID, st, ErrState)
	}
	if all {
		return c.signalAll(sig)
	}
	if err := c.signal(sig); err != nil {
		return err
	}
	if sig == unix.SIGKILL && st == StatePaused {
		return c.thaw() // else a v1 freezer keeps the killed init frozen
	}
	return nil
}

func (c *Container) signal(sig unix.Signal) error {
	fd, err := c.pidfd()
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %v to container %s: %w", sig, c.ID, err)
	}
	return nil
}

// signalAll signals every process of the container: those in its cgroup,
// or, without one, those in its pid namespace (with the host's pid namespace
// only init can be told apart).
func (c *Container) signalAll(sig unix.Signal) error {
	if c.CgroupPath != "" {
		return c.signalCgroup(sig)
	}
	if !c.OwnPidNS {
		return c.signal(sig)
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(c.Pid) + "/ns/pid")
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	// Stop init first when killing, so no new process escapes the sweep.
	if err := c.signal(sig); err != nil {
		return err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == c.Pid {
			continue
		}
		if other, err := os.Readlink("/proc/" + p.Name() + "/ns/pid"); err == nil && other == ns {
			_ = unix.Kill(pid, sig)
		}
	}
	return nil
}

// signalLeftovers signals the processes still in a stopped container's
// cgroup. Without a cgroup there is nothing to find: init is gone, and with
// it everything in its own pid namespace.
func (c *Container) signalLeftovers(sig unix.Signal) error {
	if c.CgroupPath == "" {
		return nil
	}
	if err := c.signalCgroup(sig); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ownPidNamespace tells whether the container gets a new pid namespace.
func ownPidNamespace(spec *rspec.Spec) bool {
	ns, ok := specs.Namespace(spec, rspec.PIDNamespace)
	return ok && ns.Path == ""
}

// signalCgroup signals every process in the container's cgroup. For SIGKILL
// the cgroup is frozen first, so no process can fork its way out of the sweep.
func (c *Container) signalCgroup(sig unix.Signal) error {
	m, err := cgroups.Load(c.CgroupPath)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	if sig == unix.SIGKILL {
		if err := m.Freeze(); err == nil {
			defer m.Thaw()
		}
	}
	pids, err := m.Procs()
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, sig)
	}
	return nil
}
