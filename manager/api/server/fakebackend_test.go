package server

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// fakeBackend is a test double of the container, network and volume
// backends: a few scripted containers, execs, networks and volumes, and
// a record of every call with its parsed arguments.
type fakeBackend struct {
	mu    sync.Mutex
	calls []string

	containers  map[string]*types.ContainerJSON // by ID and by name
	execs       map[string]*types.ExecInspect
	logs        []LogMessage
	started     chan struct{} // closed by the first ContainerStart
	startOnce   sync.Once
	waitCh      chan types.ContainerWaitResponse
	lastLogs    LogsOptions
	lastList    ContainerListOptions
	lastCreate  *types.ContainerCreateRequest
	lastCommit  CommitOptions
	lastUpdate  *types.ContainerUpdateRequest
	lastFilter  types.Filters
	lastExtract string
	// exitOnStart makes every wait end (status 0) once a container
	// started, instead of on waitCh.
	exitOnStart bool
	// logsErr is returned by ContainerLogs after the scripted entries.
	logsErr error
}

func newFakeBackend() *fakeBackend {
	f := &fakeBackend{
		containers: map[string]*types.ContainerJSON{},
		execs:      map[string]*types.ExecInspect{},
		started:    make(chan struct{}),
		waitCh:     make(chan types.ContainerWaitResponse, 1),
	}
	f.addContainer("c1", "web", false, types.StateRunning)
	f.addContainer("c2", "term", true, types.StateRunning)
	f.addContainer("c3", "stopped", false, types.StateExited)
	f.addContainer("c4", "paused", false, types.StatePaused)
	f.execs["e1"] = &types.ExecInspect{ID: "e1", ContainerID: "c1", OpenStdin: true, OpenStdout: true, OpenStderr: true,
		ProcessConfig: &types.ExecProcessConfig{Entrypoint: "cat"}}
	f.execs["e2"] = &types.ExecInspect{ID: "e2", ContainerID: "c2", OpenStdin: true, OpenStdout: true, OpenStderr: true,
		ProcessConfig: &types.ExecProcessConfig{Entrypoint: "sh", Tty: true}}
	f.execs["e3"] = &types.ExecInspect{ID: "e3", ContainerID: "c1", OpenStdout: true,
		ProcessConfig: &types.ExecProcessConfig{Entrypoint: "false"}}
	return f
}

func (f *fakeBackend) addContainer(id, name string, tty bool, status string) {
	c := &types.ContainerJSON{
		ID: id, Name: "/" + name, Image: "sha256:aaaa",
		Config: &types.ContainerConfig{Tty: tty, Image: "busybox"},
		State: &types.ContainerState{Status: status, Running: status == types.StateRunning || status == types.StatePaused,
			Paused: status == types.StatePaused},
		HostConfig:      &types.HostConfig{},
		NetworkSettings: &types.NetworkSettings{Networks: map[string]*types.EndpointSettings{}},
	}
	f.containers[id] = c
	f.containers[name] = c
}

// script changes the fake's scripted answers while the server runs.
func (f *fakeBackend) script(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

func (f *fakeBackend) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// called returns the recorded calls.
func (f *fakeBackend) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) get(name string) (*types.ContainerJSON, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[name]; ok {
		return c, nil
	}
	return nil, errdefs.NotFound("No such container: %s", name)
}

func (f *fakeBackend) ContainerCreate(_ context.Context, name string, req *types.ContainerCreateRequest) (*types.ContainerCreateResponse, error) {
	f.record("create %s %s", name, req.Image)
	if req.Image == "nosuch" {
		return nil, errdefs.NotFound("No such image: nosuch:latest")
	}
	if _, err := f.get(name); err == nil {
		return nil, errdefs.Conflict("Conflict. The container name \"/%s\" is already in use", name)
	}
	if name == "" {
		name = "c9name"
	}
	f.mu.Lock()
	f.lastCreate = req
	f.addContainer("c9", name, req.Tty, types.StateCreated)
	f.containers["c9"].Config.Labels = req.Labels
	if req.NetworkingConfig != nil {
		for n, ep := range req.NetworkingConfig.EndpointsConfig {
			f.containers["c9"].NetworkSettings.Networks[n] = ep
		}
	}
	f.mu.Unlock()
	return &types.ContainerCreateResponse{ID: "c9"}, nil
}

func (f *fakeBackend) ContainerList(_ context.Context, opts ContainerListOptions) ([]*types.ContainerSummary, error) {
	f.mu.Lock()
	f.lastList = opts
	f.mu.Unlock()
	if labels := opts.Filters.Get("label"); len(labels) > 0 {
		return f.withLabels(labels), nil
	}
	return []*types.ContainerSummary{{ID: "c1", Names: []string{"/web"}, Image: "busybox", Command: "sh", State: "running", Status: "Up 1 second",
		Mounts: []types.MountPoint{{Type: "volume", Name: "data", Destination: "/data"}}}}, nil
}

// withLabels lists the containers that have every label ("k" or "k=v").
func (f *fakeBackend) withLabels(labels []string) []*types.ContainerSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*types.ContainerSummary
	for key, c := range f.containers {
		if key != c.ID {
			continue // the same container by name
		}
		match := true
		for _, l := range labels {
			k, v, hasV := strings.Cut(l, "=")
			got, ok := c.Config.Labels[k]
			match = match && ok && (!hasV || got == v)
		}
		if match {
			out = append(out, &types.ContainerSummary{ID: c.ID, Names: []string{c.Name}, Image: c.Config.Image,
				Labels: c.Config.Labels, State: c.State.Status})
		}
	}
	return out
}

func (f *fakeBackend) ContainerInspect(_ context.Context, name string, size bool) (*types.ContainerJSON, error) {
	f.record("inspect %s size=%v", name, size)
	return f.get(name)
}

// transition changes a container's state, as the real backend would.
func (f *fakeBackend) transition(name, want string) error {
	c, err := f.get(name)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.State.Status == want {
		return errdefs.NotModified("container already %s", want)
	}
	c.State.Status = want
	return nil
}

func (f *fakeBackend) ContainerStart(_ context.Context, name string) error {
	f.record("start %s", name)
	if err := f.transition(name, types.StateRunning); err != nil {
		return err
	}
	f.startOnce.Do(func() { close(f.started) })
	return nil
}

func fmtTimeout(t *int) string {
	if t == nil {
		return "nil"
	}
	return fmt.Sprint(*t)
}

func (f *fakeBackend) ContainerStop(_ context.Context, name string, t *int) error {
	f.record("stop %s t=%s", name, fmtTimeout(t))
	return f.transition(name, types.StateExited)
}

func (f *fakeBackend) ContainerRestart(_ context.Context, name string, t *int) error {
	f.record("restart %s t=%s", name, fmtTimeout(t))
	_, err := f.get(name)
	return err
}

func (f *fakeBackend) ContainerKill(_ context.Context, name, signal string) error {
	f.record("kill %s signal=%s", name, signal)
	c, err := f.get(name)
	if err != nil {
		return err
	}
	if c.State.Status != types.StateRunning {
		return errdefs.Conflict("Cannot kill container: %s: Container %s is not running", name, c.ID)
	}
	return nil
}

func (f *fakeBackend) ContainerRemove(_ context.Context, name string, force, v bool) error {
	f.record("remove %s force=%v v=%v", name, force, v)
	c, err := f.get(name)
	if err != nil {
		return err
	}
	if c.State.Status == types.StateRunning && !force {
		return errdefs.Conflict("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.ID)
	}
	return nil
}

func (f *fakeBackend) ContainerWait(_ context.Context, name, condition string) (<-chan types.ContainerWaitResponse, error) {
	f.record("wait %s condition=%s", name, condition)
	if _, err := f.get(name); err != nil {
		return nil, err
	}
	f.mu.Lock()
	exitOnStart := f.exitOnStart
	f.mu.Unlock()
	if !exitOnStart {
		return f.waitCh, nil
	}
	ch := make(chan types.ContainerWaitResponse, 1)
	go func() {
		<-f.started
		ch <- types.ContainerWaitResponse{}
	}()
	return ch, nil
}

func (f *fakeBackend) ContainerPause(_ context.Context, name string) error {
	f.record("pause %s", name)
	return f.transition(name, types.StatePaused)
}

func (f *fakeBackend) ContainerUnpause(_ context.Context, name string) error {
	f.record("unpause %s", name)
	return f.transition(name, types.StateRunning)
}

func (f *fakeBackend) ContainerRename(_ context.Context, name, newName string) error {
	f.record("rename %s %s", name, newName)
	_, err := f.get(name)
	return err
}

func (f *fakeBackend) ContainerUpdate(_ context.Context, name string, req *types.ContainerUpdateRequest) (*types.ContainerUpdateResponse, error) {
	f.record("update %s memory=%d restart=%s", name, req.Memory, req.RestartPolicy.Name)
	if _, err := f.get(name); err != nil {
		return nil, err
	}
	return &types.ContainerUpdateResponse{}, nil
}

func (f *fakeBackend) ContainerTop(_ context.Context, name, psArgs string) (*types.ContainerTopResponse, error) {
	f.record("top %s ps_args=%s", name, psArgs)
	if _, err := f.get(name); err != nil {
		return nil, err
	}
	return &types.ContainerTopResponse{Titles: []string{"PID", "CMD"}, Processes: [][]string{{"1", "sh"}}}, nil
}

func (f *fakeBackend) ContainerStats(ctx context.Context, name string, stream bool, out func(*types.StatsJSON) error) error {
	f.record("stats %s stream=%v", name, stream)
	if _, err := f.get(name); err != nil {
		return err
	}
	for i := 0; ; i++ {
		if err := out(&types.StatsJSON{ID: name, NumProcs: uint32(i + 1)}); err != nil || !stream {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
		if i == 2 {
			return nil // the container stopped
		}
	}
}

func (f *fakeBackend) ContainerLogs(ctx context.Context, name string, opts LogsOptions, out func(LogMessage) error) error {
	f.mu.Lock()
	f.lastLogs = opts
	logs, logsErr := f.logs, f.logsErr
	f.mu.Unlock()
	if _, err := f.get(name); err != nil {
		return err
	}
	for _, m := range logs {
		if (m.Stream == "stdout" && !opts.Stdout) || (m.Stream == "stderr" && !opts.Stderr) {
			continue
		}
		if err := out(m); err != nil {
			return err
		}
	}
	if opts.Follow {
		select {
		case <-f.started:
			_ = out(LogMessage{Stream: "stdout", Line: []byte("later\n"), Time: time.Unix(1700000001, 0).UTC()})
		case <-ctx.Done():
		}
	}
	return logsErr
}

// ContainerAttach echoes stdin to stdout in upper case and says "bye"
// on stderr at its end; it ends at the end of stdin, or, without stdin,
// once the container started and printed "started".
func (f *fakeBackend) ContainerAttach(ctx context.Context, name string, opts AttachOptions) error {
	f.record("attach %s stdin=%v stdout=%v stderr=%v logs=%v stream=%v keys=%s", name,
		opts.Stdin != nil, opts.Stdout != nil, opts.Stderr != nil, opts.Logs, opts.Stream, opts.DetachKeys)
	if name == "c3" {
		return errdefs.Conflict("container c3 went away")
	}
	if opts.Stdin == nil {
		select {
		case <-f.started:
		case <-ctx.Done():
			return nil
		}
		if opts.Stdout != nil {
			_, _ = io.WriteString(opts.Stdout, "started\n")
		}
		return nil
	}
	return echo(opts.AttachStreams)
}

func echo(s AttachStreams) error {
	buf := make([]byte, 1024)
	for {
		n, err := s.Stdin.Read(buf)
		if n > 0 && s.Stdout != nil {
			if _, werr := s.Stdout.Write([]byte(strings.ToUpper(string(buf[:n])))); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if s.Stderr != nil {
		_, _ = io.WriteString(s.Stderr, "bye\n")
	}
	return nil
}

func (f *fakeBackend) ContainerResize(_ context.Context, name string, h, w int) error {
	f.record("resize %s %dx%d", name, h, w)
	_, err := f.get(name)
	return err
}

func (f *fakeBackend) ContainerExport(_ context.Context, name string, w io.Writer) error {
	if _, err := f.get(name); err != nil {
		return err
	}
	_, err := io.WriteString(w, "export-of-"+name)
	return err
}

func (f *fakeBackend) ContainerChanges(_ context.Context, name string) ([]types.ContainerChange, error) {
	if _, err := f.get(name); err != nil {
		return nil, err
	}
	return nil, nil
}

var fakeStat = &types.ContainerPathStat{Name: "etc", Size: 4096, Mode: 0o755 | 1<<31, Mtime: time.Unix(1700000000, 0).UTC()}

func (f *fakeBackend) ContainerStatPath(_ context.Context, name, path string) (*types.ContainerPathStat, error) {
	if _, err := f.get(name); err != nil {
		return nil, err
	}
	if path != "/etc" {
		return nil, errdefs.NotFound("Could not find the file %s in container %s", path, name)
	}
	return fakeStat, nil
}

func (f *fakeBackend) ContainerArchivePath(ctx context.Context, name, path string) (io.ReadCloser, *types.ContainerPathStat, error) {
	st, err := f.ContainerStatPath(ctx, name, path)
	if err != nil {
		return nil, nil, err
	}
	return io.NopCloser(strings.NewReader("tar-of-etc")), st, nil
}

func (f *fakeBackend) ContainerExtractToDir(_ context.Context, name, path string, noOverwrite, copyUIDGID bool, tar io.Reader) error {
	b, err := io.ReadAll(tar)
	if err != nil {
		return err
	}
	f.record("extract %s %s noOverwriteDirNonDir=%v copyUIDGID=%v", name, path, noOverwrite, copyUIDGID)
	f.mu.Lock()
	f.lastExtract = string(b)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) ContainerCommit(_ context.Context, name string, opts CommitOptions) (string, error) {
	if _, err := f.get(name); err != nil {
		return "", err
	}
	f.mu.Lock()
	f.lastCommit = opts
	f.mu.Unlock()
	return "sha256:cccc", nil
}

func (f *fakeBackend) ContainersPrune(_ context.Context, fl types.Filters) (*types.ContainersPruneReport, error) {
	f.mu.Lock()
	f.lastFilter = fl
	f.mu.Unlock()
	return &types.ContainersPruneReport{SpaceReclaimed: 3}, nil
}

func (f *fakeBackend) ExecCreate(_ context.Context, name string, cfg *types.ExecConfig) (string, error) {
	f.record("exec-create %s %s", name, strings.Join(cfg.Cmd, " "))
	if _, err := f.get(name); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs["e9"] = &types.ExecInspect{ID: "e9", ContainerID: name,
		OpenStdin: cfg.AttachStdin, OpenStdout: cfg.AttachStdout, OpenStderr: cfg.AttachStderr,
		ProcessConfig: &types.ExecProcessConfig{Entrypoint: cfg.Cmd[0], Arguments: cfg.Cmd[1:], Tty: cfg.Tty}}
	return "e9", nil
}

func (f *fakeBackend) execGet(id string) (*types.ExecInspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ex, ok := f.execs[id]; ok {
		return ex, nil
	}
	return nil, errdefs.NotFound("No such exec instance: %s", id)
}

// ExecStart: e1 echoes like attach, e2 (tty) writes to both streams, e3
// fails once started; a created one (e9) echoes with stdin, else says
// what it ran.
func (f *fakeBackend) ExecStart(_ context.Context, id string, detach bool, s AttachStreams) error {
	f.record("exec-start %s detach=%v stdin=%v stdout=%v stderr=%v", id, detach, s.Stdin != nil, s.Stdout != nil, s.Stderr != nil)
	if _, err := f.execGet(id); err != nil {
		return err
	}
	switch {
	case detach:
		return nil
	case id == "e3":
		return errdefs.Conflict("Container c1 is not running")
	case id == "e9" && s.Stdin == nil:
		ex, _ := f.execGet(id)
		if s.Stdout != nil {
			_, _ = io.WriteString(s.Stdout, "ran "+ex.ProcessConfig.Entrypoint+"\n")
		}
		return nil
	case id == "e2":
		_, _ = io.WriteString(s.Stdout, "out ")
		_, _ = io.WriteString(s.Stderr, "err ")
		_, _ = io.Copy(io.Discard, s.Stdin)
		return nil
	}
	return echo(s)
}

func (f *fakeBackend) ExecInspect(_ context.Context, id string) (*types.ExecInspect, error) {
	return f.execGet(id)
}

func (f *fakeBackend) ExecResize(_ context.Context, id string, h, w int) error {
	f.record("exec-resize %s %dx%d", id, h, w)
	_, err := f.execGet(id)
	return err
}

func (f *fakeBackend) NetworkList(_ context.Context, fl types.Filters) ([]*types.NetworkResource, error) {
	f.mu.Lock()
	f.lastFilter = fl
	f.mu.Unlock()
	return []*types.NetworkResource{{Name: "bridge", ID: "n1", Driver: "bridge", Scope: "local"}}, nil
}

func (f *fakeBackend) NetworkInspect(_ context.Context, id string) (*types.NetworkResource, error) {
	if id != "bridge" && id != "n1" {
		return nil, errdefs.NotFound("network %s not found", id)
	}
	return &types.NetworkResource{Name: "bridge", ID: "n1", Driver: "bridge", Scope: "local"}, nil
}

func (f *fakeBackend) NetworkCreate(_ context.Context, req *types.NetworkCreateRequest) (*types.NetworkCreateResponse, error) {
	f.record("network-create %s %s", req.Name, req.Driver)
	if req.Name == "bridge" {
		return nil, errdefs.Conflict("network with name bridge already exists")
	}
	return &types.NetworkCreateResponse{ID: "n2"}, nil
}

func (f *fakeBackend) NetworkRemove(_ context.Context, id string) error {
	f.record("network-remove %s", id)
	if id == "bridge" {
		return errdefs.Conflict("bridge is a pre-defined network and cannot be removed")
	}
	return nil
}

func (f *fakeBackend) NetworkConnect(_ context.Context, id, container string, ep *types.EndpointSettings) error {
	aliases := ""
	if ep != nil {
		// Sorted: clients send aliases in no particular order.
		aliases = strings.Join(slices.Sorted(slices.Values(ep.Aliases)), ",")
	}
	f.record("network-connect %s %s aliases=%s", id, container, aliases)
	return nil
}

func (f *fakeBackend) NetworkDisconnect(_ context.Context, id, container string, force bool) error {
	f.record("network-disconnect %s %s force=%v", id, container, force)
	return nil
}

func (f *fakeBackend) NetworksPrune(_ context.Context, fl types.Filters) (*types.NetworksPruneReport, error) {
	return &types.NetworksPruneReport{}, nil
}

func (f *fakeBackend) VolumeList(_ context.Context, fl types.Filters) (*types.VolumeListResponse, error) {
	f.mu.Lock()
	f.lastFilter = fl
	f.mu.Unlock()
	return &types.VolumeListResponse{Volumes: []*types.Volume{{Name: "data", Driver: "local", Scope: "local", Mountpoint: "/var/lib/xmgr/volumes/data/_data"}}}, nil
}

func (f *fakeBackend) VolumeInspect(_ context.Context, name string) (*types.Volume, error) {
	if name != "data" {
		return nil, errdefs.NotFound("get %s: no such volume", name)
	}
	return &types.Volume{Name: "data", Driver: "local", Scope: "local"}, nil
}

func (f *fakeBackend) VolumeCreate(_ context.Context, req *types.VolumeCreateRequest) (*types.Volume, error) {
	f.record("volume-create %s %s", req.Name, req.Driver)
	return &types.Volume{Name: req.Name, Driver: "local", Scope: "local", Labels: req.Labels}, nil
}

func (f *fakeBackend) VolumeRemove(_ context.Context, name string, force bool) error {
	f.record("volume-remove %s force=%v", name, force)
	if name == "data" && !force {
		return errdefs.Conflict("remove data: volume is in use - [c1]")
	}
	return nil
}

func (f *fakeBackend) VolumesPrune(_ context.Context, fl types.Filters) (*types.VolumesPruneReport, error) {
	f.mu.Lock()
	f.lastFilter = fl
	f.mu.Unlock()
	return &types.VolumesPruneReport{VolumesDeleted: []string{"old"}, SpaceReclaimed: 10}, nil
}
