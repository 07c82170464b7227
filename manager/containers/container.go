// Package containers is xmgr's container service: it turns an image and
// Docker's run options into a container (a writable snapshot, an OCI
// bundle, networks and volumes), runs it through xrt-shim, supervises it
// (restart policies, health checks) and finds it again after a daemon
// restart. Its Manager serves the API's container, exec, network and
// volume backends directly, in Docker's shapes.
package containers

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/shim/client"
)

// State is a container's life state. Status is one of types.State*.
type State struct {
	Status     string
	Pid        int
	ExitCode   int
	Error      string
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
	Health     *types.Health `json:",omitempty"`
	// ManuallyStopped: stopped by stop/kill from a user, so that
	// "unless-stopped" and "always" do not restart it at daemon start
	// (unless-stopped) or at its exit (both).
	ManuallyStopped bool
	// StartedBefore: it ran at least once (docker's HasBeenStartedBefore).
	StartedBefore bool
}

// Running reports whether the container has a live process (running,
// paused or restarting between tries does not count).
func (s *State) Running() bool {
	return s.Status == types.StateRunning || s.Status == types.StatePaused
}

// MountPoint is a mount the container asked for, resolved.
type MountPoint struct {
	Type        string // bind, volume, tmpfs
	Name        string // the volume's name
	Source      string // host path (bind, volume's _data)
	Destination string
	RW          bool
	Propagation string
	Options     []string // tmpfs options, bind propagation
	Anonymous   bool     // an anonymous volume: removed with `rm -v`
}

// Container is one container's record, kept in
// <DataRoot>/containers/<id>/config.v2.json. Lock mu for every read or
// change of the fields after the container is registered; save writes
// them.
type Container struct {
	mu sync.Mutex

	ID      string
	Name    string // without Docker's leading "/"
	Created time.Time
	Image   string // as the user named it ("busybox", "busybox:latest")
	ImageID string // sha256:...
	// Path and Args are the process the container runs (entrypoint + cmd).
	Path string
	Args []string
	// Config is the image's config merged with the request's, as inspect
	// shows it; HostConfig is the request's.
	Config     *types.ContainerConfig
	HostConfig *types.HostConfig
	// Networks are the container's endpoints by network name: the
	// requested settings until it starts, then the actual addresses.
	Networks map[string]*types.EndpointSettings
	// Ports are the published ports while it runs (-p, -P resolved).
	Ports       types.PortMap
	MountPoints []MountPoint
	State       State
	// RestartCount counts restarts by the restart policy since the last
	// start by a user.
	RestartCount int
	Driver       string // storage driver
	SnapshotKey  string // the writable snapshot in the layer store
	ChainID      string // the image's top layer the snapshot sits on ("" for scratch)

	LogPath, HostsPath, HostnamePath, ResolvConfPath string
	// NetNSPath is the network namespace file while it runs ("" with
	// host networking or when stopped): teardown after a daemon restart
	// needs it.
	NetNSPath string `json:",omitempty"`

	// Not saved: the shim while the container runs, and who waits.
	shim   *client.Shim
	exited chan struct{} // closed when the current run ends
	// released is closed once the runtime deleted the current run (its
	// cgroup, its state): a removal waits for it, after exited.
	released chan struct{}
	removed  chan struct{} // closed when the container is removed
	// changed is closed and replaced at every state change (wait
	// next-exit watches it).
	changed chan struct{}
	// attachWaiters counts attaches waiting for the container to start:
	// the start then holds the output in the shim until they attached
	// (`docker run` attaches before it starts and must see every byte).
	attachWaiters int

	// op serializes the lifecycle operations (start, stop, restart,
	// remove, a policy restart); hold it before mu, never while waiting
	// for mu's holder to need it.
	op sync.Mutex
	// process is the container's OCI process while it runs: health
	// probes run as execs derived from it.
	process *rspec.Process
	// cancelRestart cancels a pending policy restart; cancelHealth stops
	// the health checker of the current run.
	cancelRestart, cancelHealth func()
	// restartDelay is the policy's current back-off.
	restartDelay time.Duration
	// stopping: a stop or remove ends the current run, which the restart
	// policy must not restart.
	stopping bool
}

// configName is the record's file in the container's directory.
const configName = "config.v2.json"

// dir is the container's persistent directory under the data root.
func (m *Manager) dir(id string) string { return filepath.Join(m.cfg.DataRoot, "containers", id) }

// bundleDir is the container's OCI bundle (config.json, rootfs/) under
// the exec root: it lives as long as the container runs.
func (m *Manager) bundleDir(id string) string {
	return filepath.Join(m.cfg.ExecRoot, "containers", id)
}

// shimDir is the container's shim state directory; Recover scans its
// parent. It is named by half the ID: the shim's socket inside must fit a
// unix address (107 bytes) under any reasonable exec root, and 32 hex
// digits are as unique as the whole.
func (m *Manager) shimDir(id string) string { return filepath.Join(m.shimRoot(), shimName(id)) }

func shimName(id string) string {
	if len(id) > 32 {
		return id[:32]
	}
	return id
}
func (m *Manager) shimRoot() string { return filepath.Join(m.cfg.ExecRoot, "shims") }

// runtimeRoot is xrt's --root for xmgr's containers.
func (m *Manager) runtimeRoot() string { return filepath.Join(m.cfg.ExecRoot, "xrt") }

// save writes the record atomically. The caller holds c.mu.
func (m *Manager) save(c *Container) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := m.dir(c.ID)
	tmp, err := os.CreateTemp(dir, ".config-*")
	if err != nil {
		return fmt.Errorf("container %s: saving: %w", c.ID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("container %s: saving: %w", c.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("container %s: saving: %w", c.ID, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, configName)); err != nil {
		return fmt.Errorf("container %s: saving: %w", c.ID, err)
	}
	return nil
}

// load reads a container's record.
func load(dir string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(dir, configName))
	if err != nil {
		return nil, err
	}
	c := &Container{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, configName), err)
	}
	c.exited = make(chan struct{})
	c.released = make(chan struct{})
	c.removed = make(chan struct{})
	c.changed = make(chan struct{})
	if !c.State.Running() {
		close(c.exited)
		close(c.released)
	}
	return c, nil
}
