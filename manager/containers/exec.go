package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/bundle"
	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/shim/client"
	"github.com/xrt-dev/xrt/specs"
)

// execKeep is how long a finished exec stays inspectable.
const execKeep = 5 * time.Minute

// execProcess is one exec instance (docker exec): created, then started
// once, then finished with an exit code.
type execProcess struct {
	ID        string
	container *Container
	cfg       types.ExecConfig

	mu       sync.Mutex
	started  bool
	running  bool
	exitCode *int
	pid      int
	// resize carries the client's window sizes to the shim; the newest
	// size replaces one not yet sent.
	resize chan client.WindowSize
}

// ExecCreate records an exec in a running container and returns its ID.
func (m *Manager) ExecCreate(ctx context.Context, name string, cfg *types.ExecConfig) (string, error) {
	if cfg == nil || len(cfg.Cmd) == 0 {
		return "", errdefs.Invalid("No exec command specified")
	}
	if cfg.WorkingDir != "" && !filepath.IsAbs(cfg.WorkingDir) {
		return "", errdefs.Invalid("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
	}
	c, err := m.get(name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	err = execAllowed(c)
	attrs := m.eventAttributes(c)
	c.mu.Unlock()
	if err != nil {
		return "", err
	}
	e := &execProcess{ID: newExecID(), container: c, cfg: *cfg, resize: make(chan client.WindowSize, 1)}
	m.mu.Lock()
	m.execs[e.ID] = e
	m.mu.Unlock()
	attrs["execID"] = e.ID
	m.cfg.Events(types.ContainerEventType, "exec_create: "+strings.Join(cfg.Cmd, " "), c.ID, attrs)
	return e.ID, nil
}

// execAllowed refuses an exec into a container that does not run. The
// caller holds c.mu.
func execAllowed(c *Container) error {
	switch c.State.Status {
	case types.StateRunning:
		if c.shim == nil {
			return errdefs.Conflict("Container %s is not running", c.ID)
		}
		return nil
	case types.StatePaused:
		return errdefs.Conflict("Container %s is paused, unpause the container before exec", c.ID)
	case types.StateRestarting:
		return errdefs.Conflict("Container %s is restarting, wait until the container is running", c.ID)
	}
	return errdefs.Conflict("Container %s is not running", c.ID)
}

func newExecID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// getExec finds an exec by ID.
func (m *Manager) getExec(id string) (*execProcess, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, ok := m.execs[id]; ok {
		return e, nil
	}
	return nil, errdefs.NotFound("No such exec instance: %s", id)
}

// ExecStart runs the exec through the container's shim. With detach it
// returns once the process runs; otherwise once it exited and its output
// was written to streams.
func (m *Manager) ExecStart(ctx context.Context, execID string, detach bool, streams server.AttachStreams) error {
	e, err := m.getExec(execID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	switch {
	case e.exitCode != nil:
		e.mu.Unlock()
		return errdefs.Conflict("Error: Exec command %s has already run", e.ID)
	case e.started:
		e.mu.Unlock()
		return errdefs.Conflict("Error: Exec command %s is already running", e.ID)
	}
	e.started = true
	e.mu.Unlock()

	c := e.container
	c.mu.Lock()
	err = execAllowed(c)
	sh, pid, attrs := c.shim, c.State.Pid, m.eventAttributes(c)
	c.mu.Unlock()
	var proc *rspec.Process
	if err == nil {
		proc, err = m.execSpec(c.ID, pid, &e.cfg)
	}
	if err != nil {
		e.finish(126)
		m.dropExecLater(e)
		return err
	}
	attrs["execID"] = e.ID
	m.cfg.Events(types.ContainerEventType, "exec_start: "+strings.Join(e.cfg.Cmd, " "), c.ID, attrs)

	st := client.Streams{Resize: e.resize, CloseStdinOnEOF: true}
	runCtx := ctx
	if detach {
		runCtx = m.ctx // the exec outlives the request
	} else {
		st.Stdin, st.Stdout, st.Stderr = streams.Stdin, streams.Stdout, streams.Stderr
	}
	started := make(chan struct{})
	st.Started = func(pid int) {
		e.mu.Lock()
		e.pid = pid
		e.mu.Unlock()
	}
	st.Attached = func() {
		e.mu.Lock()
		e.running = true
		e.mu.Unlock()
		close(started)
	}
	result := make(chan error, 1)
	run := func() {
		status, err := sh.Exec(runCtx, proc, st)
		code := -1
		if status != nil {
			code = status.ExitCode
			e.mu.Lock()
			e.pid = status.Pid
			e.mu.Unlock()
		} else if err != nil {
			code = 126
		}
		e.finish(code)
		dieAttrs := map[string]string{}
		for k, v := range attrs {
			dieAttrs[k] = v
		}
		dieAttrs["exitCode"] = strconv.Itoa(code)
		m.cfg.Events(types.ContainerEventType, "exec_die", c.ID, dieAttrs)
		m.dropExecLater(e)
		if err != nil {
			err = fmt.Errorf("OCI runtime exec failed: %w", err)
		}
		result <- err
	}
	if !detach {
		run()
		return <-result
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		run()
	}()
	select {
	case <-started:
		return nil
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish records the exit code.
func (e *execProcess) finish(code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running = false
	e.exitCode = &code
}

// dropExecLater forgets a finished exec after execKeep.
func (m *Manager) dropExecLater(e *execProcess) {
	time.AfterFunc(execKeep, func() {
		m.mu.Lock()
		delete(m.execs, e.ID)
		m.mu.Unlock()
	})
}

// dropExecs forgets every exec of container id (when it stops or is
// removed).
func (m *Manager) dropExecs(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for eid, e := range m.execs {
		if e.container.ID == id {
			delete(m.execs, eid)
		}
	}
}

// execIDs lists the container's running execs (inspect's ExecIDs).
func (m *Manager) execIDs(id string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for eid, e := range m.execs {
		e.mu.Lock()
		live := e.exitCode == nil
		e.mu.Unlock()
		if e.container.ID == id && live {
			out = append(out, eid)
		}
	}
	return out
}

// execSpec builds the exec's process from the container's: its
// environment (with the exec's merged over it), working directory, user,
// capabilities (all with Privileged), rlimits and security settings.
func (m *Manager) execSpec(id string, pid int, cfg *types.ExecConfig) (*rspec.Process, error) {
	data, err := os.ReadFile(filepath.Join(m.bundleDir(id), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("exec: the container's config: %w", err)
	}
	var spec rspec.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("exec: the container's config: %w", err)
	}
	if spec.Process == nil {
		return nil, errors.New("exec: the container's config has no process")
	}
	p := *spec.Process
	p.Args = append([]string(nil), cfg.Cmd...)
	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	if cfg.Tty && cfg.ConsoleSize != nil && cfg.ConsoleSize[0] > 0 && cfg.ConsoleSize[1] > 0 {
		p.ConsoleSize = &rspec.Box{Height: cfg.ConsoleSize[0], Width: cfg.ConsoleSize[1]}
	}
	p.Env = mergeEnvVars(p.Env, cfg.Env)
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.User != "" {
		rootfs := fmt.Sprintf("/proc/%d/root", pid)
		u, err := lookupUser(rootfs, cfg.User)
		if err != nil {
			return nil, errdefs.Invalid("exec: %v", err)
		}
		p.User = u
	}
	if cfg.Privileged {
		caps := specs.CapabilityNames()
		if last := specs.LastCap(); last+1 < len(caps) {
			caps = caps[:last+1]
		}
		p.Capabilities = &rspec.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		p.ApparmorProfile, p.SelinuxLabel = "", ""
	}
	return &p, nil
}

// mergeEnvVars returns base with each "KEY=value" of over replacing KEY.
func mergeEnvVars(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if k, _, _ := strings.Cut(old, "="); k == key {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// lookupUser resolves "user[:group]" in the container's /etc/passwd and
// /etc/group as the container's own user was (docker exec -u).
func lookupUser(rootfs, spec string) (rspec.User, error) {
	u, _, err := bundle.ResolveUser(rootfs, spec, nil)
	return u, err
}

// ExecInspect describes an exec.
func (m *Manager) ExecInspect(ctx context.Context, execID string) (*types.ExecInspect, error) {
	e, err := m.getExec(execID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	priv := e.cfg.Privileged
	out := &types.ExecInspect{
		ID:      e.ID,
		Running: e.running,
		ProcessConfig: &types.ExecProcessConfig{
			Tty: e.cfg.Tty, Entrypoint: e.cfg.Cmd[0], Arguments: append([]string{}, e.cfg.Cmd[1:]...),
			Privileged: &priv, User: e.cfg.User,
		},
		OpenStdin:   e.cfg.AttachStdin,
		OpenStdout:  e.cfg.AttachStdout,
		OpenStderr:  e.cfg.AttachStderr,
		CanRemove:   e.exitCode != nil,
		ContainerID: e.container.ID,
		DetachKeys:  e.cfg.DetachKeys,
		Pid:         e.pid,
	}
	if e.exitCode != nil {
		code := *e.exitCode
		out.ExitCode = &code
	}
	return out, nil
}

// ExecResize sets the window size of an exec's pty.
func (m *Manager) ExecResize(ctx context.Context, execID string, height, width int) error {
	e, err := m.getExec(execID)
	if err != nil {
		return err
	}
	if height <= 0 || width <= 0 {
		return errdefs.Invalid("resize: height and width must be positive")
	}
	ws := client.WindowSize{Width: width, Height: height}
	for {
		select {
		case e.resize <- ws:
			return nil
		default:
		}
		select { // drop a size not yet sent: the newest wins
		case <-e.resize:
		default:
		}
	}
}
