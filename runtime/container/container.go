// Package container holds the lifecycle of one container: its state on disk
// under the runtime's root, and one file per operation (create, start, kill,
// delete, run), as the runtime-spec's runtime.md lays them out.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/cgroups"
	"github.com/xrt-dev/xrt/specs"
)

// Errors callers match with errors.Is.
var (
	ErrNotExist = errors.New("does not exist")
	ErrExist    = errors.New("already exists")
	ErrState    = errors.New("wrong state")
)

const (
	stateFile = "state.json"
	fifoFile  = "exec.fifo"
	// cacheDir, under the root, holds compiled seccomp filters; List skips
	// it (container ids cannot start with a dot there).
	cacheDir = ".cache"
)

// State is what the runtime keeps on disk for a container: small, so that
// every command after create reads it fast (decoding the whole config.json
// in a cold process costs more than a millisecond). Status is not stored:
// it is derived from the process and the exec fifo each time, so a crash
// can never leave a stale status behind.
type State struct {
	ID           string            `json:"id"`
	Pid          int               `json:"pid"`
	PidStartTime uint64            `json:"pidStartTime"`
	Bundle       string            `json:"bundle"`
	Rootfs       string            `json:"rootfs"`
	Created      time.Time         `json:"created"`
	Owner        string            `json:"owner"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Hooks are kept for the commands after create (poststart, poststop).
	Hooks *rspec.Hooks `json:"hooks,omitempty"`
	// OwnPidNS is true when the container has a pid namespace of its own:
	// killing init then kills every process in it.
	OwnPidNS bool `json:"ownPidNS,omitempty"`
	// CgroupPath is the container's cgroup, as cgroups.Load reads it.
	CgroupPath string `json:"cgroupPath,omitempty"`
}

// Container is one container's directory under the root.
type Container struct {
	State
	dir  string
	lock *os.File    // held while an operation changes the container
	spec *rspec.Spec // during create only
}

// Status values beyond the spec's: "paused" as runc reports it.
const StatePaused rspec.ContainerState = "paused"

// Load reads the container id under root. It takes no lock: state.json is
// replaced atomically, and readers such as `state` must not wait for a
// long create (a hook may call `xrt state` while create holds the lock).
func Load(root, id string) (*Container, error) {
	if err := specs.ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	c := &Container{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(dir); serr == nil {
				c.ID = id // still being created
				return c, nil
			}
			return nil, fmt.Errorf("container %s %w", id, ErrNotExist)
		}
		return nil, err
	}
	if err := json.Unmarshal(b, &c.State); err != nil {
		return nil, fmt.Errorf("container %s: corrupt state file: %w", id, err)
	}
	return c, nil
}

// Lock takes the container's exclusive lock (flock on its directory).
func (c *Container) Lock() error {
	f, err := os.Open(c.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container %s %w", c.ID, ErrNotExist)
		}
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return fmt.Errorf("lock container %s: %w", c.ID, err)
	}
	c.lock = f
	return nil
}

// Unlock releases the lock taken by Lock.
func (c *Container) Unlock() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// Status derives the container's status from its init process.
func (c *Container) Status() rspec.ContainerState {
	if c.Pid == 0 {
		return rspec.StateCreating
	}
	if !c.alive() {
		return rspec.StateStopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoFile)); err == nil {
		return rspec.StateCreated
	}
	if c.CgroupPath != "" {
		if m, err := cgroups.Load(c.CgroupPath); err == nil {
			if paused, _ := m.Paused(); paused {
				return StatePaused
			}
		}
	}
	return rspec.StateRunning
}

// alive tells whether init is still the process we started and has not
// exited: a zombie, or a pid reused by another process, counts as stopped.
func (c *Container) alive() bool {
	start, state, err := procStat(c.Pid)
	return err == nil && start == c.PidStartTime && state != 'Z' && state != 'X'
}

// OCIState is the state document of `xrt state`: the spec's fields plus the
// ones runc adds.
type OCIState struct {
	rspec.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// OCIState returns the container's state as `xrt state` prints it.
func (c *Container) OCIState() OCIState {
	st := c.Status()
	pid := c.Pid
	if st == rspec.StateStopped {
		pid = 0
	}
	return OCIState{
		State: rspec.State{Version: rspec.Version, ID: c.ID, Status: st, Pid: pid,
			Bundle: c.Bundle, Annotations: c.Annotations},
		Rootfs: c.Rootfs, Created: c.Created, Owner: c.Owner,
	}
}

// hookState is the state given to hooks on stdin.
func (c *Container) hookState(status rspec.ContainerState) *rspec.State {
	return &rspec.State{Version: rspec.Version, ID: c.ID, Status: status, Pid: c.Pid,
		Bundle: c.Bundle, Annotations: c.Annotations}
}

// save writes state.json atomically: temp file, fsync, rename.
func (c *Container) save() error {
	b, err := json.Marshal(&c.State)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.dir, stateFile), b, 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// List returns every container under root, sorted by id.
func List(root string) ([]*Container, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Container
	for _, e := range entries {
		if !e.IsDir() || e.Name() == cacheDir {
			continue
		}
		c, err := Load(root, e.Name())
		if err != nil {
			continue // removed meanwhile, or not ours
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
