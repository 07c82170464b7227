package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/bundle"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/network"
	"github.com/xrt-dev/xrt/manager/snapshots"
	"github.com/xrt-dev/xrt/shim/client"
)

// startTimeout bounds one start: a shim that never reports is given up.
const startTimeout = 2 * time.Minute

// ContainerStart starts a created or stopped container. A running one is
// NotModified. A start by a user resets the restart policy's count and
// back-off and cancels a pending policy restart.
func (m *Manager) ContainerStart(ctx context.Context, name string) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	c.mu.Lock()
	switch c.State.Status {
	case types.StateRunning, types.StatePaused:
		c.mu.Unlock()
		return errdefs.NotModified("container %s is already running", c.ID)
	case types.StateRemoving, types.StateDead:
		c.mu.Unlock()
		return errdefs.Conflict("container %s is marked for removal and cannot be started", c.ID)
	}
	m.cancelRestartLocked(c)
	c.State.ManuallyStopped = false
	c.RestartCount, c.restartDelay = 0, 0
	autoRemove := c.HostConfig.AutoRemove
	c.mu.Unlock()
	err = m.start(c)
	if err != nil && autoRemove {
		// As Docker: a --rm container that cannot start is removed.
		if rerr := m.remove(c, true); rerr != nil {
			m.log.Warn("removing a --rm container that did not start", "id", c.ID, "err", rerr)
		}
	}
	return err
}

// registered reports whether c is still a container of m (not removed).
func (m *Manager) registered(c *Container) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.byID[c.ID] == c
}

// start runs the container: rootfs, volumes, network (in parallel with
// the mounts), etc files, the bundle, then the shim. On failure it undoes
// every step, in reverse, and records the error on the container. The
// caller holds c.op and not c.mu.
func (m *Manager) start(c *Container) (err error) {
	if !m.registered(c) {
		return errdefs.NotFound("No such container: %s", c.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	began := time.Now()

	c.mu.Lock()
	id, name := c.ID, c.Name
	hc := *c.HostConfig
	cfg := *c.Config
	mps := slices.Clone(c.MountPoints)
	joins := c.networkOrder()
	requested := map[string]types.EndpointSettings{}
	for n, es := range c.Networks {
		if es != nil {
			requested[n] = *es
		}
	}
	snapshotKey, chainID := c.SnapshotKey, c.ChainID
	c.mu.Unlock()

	var undo []func()
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		m.recordStartError(c, err)
	}()

	bundleDir := m.bundleDir(id)
	rootfs := filepath.Join(bundleDir, "rootfs")
	os.RemoveAll(m.shimDir(id)) // a previous run's exit status, already recorded
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	undo = append(undo, func() { removeBundle(bundleDir) })

	// The network is set up while the file systems are mounted.
	var netns string
	if hc.NetworkMode != netHost {
		if netns, err = m.cfg.Network.NewNetNS(id); err != nil {
			return err
		}
		undo = append(undo, func() { m.cfg.Network.RemoveNetNS(netns) })
	}
	netc := make(chan netResult, 1)
	go func() { netc <- m.connectNetworks(ctx, id, name, joins, requested, netns, &cfg, &hc) }()
	var net *netResult
	waitNet := func() netResult {
		if net == nil {
			r := <-netc
			net = &r
		}
		return *net
	}
	undo = append(undo, func() {
		waitNet()
		m.disconnectAll(id, netns)
	})

	ms, err := m.cfg.Layers.Mounts(snapshotKey, digest.Digest(chainID), false)
	if err != nil {
		return fmt.Errorf("container %s: its file system: %w", id, err)
	}
	if err := snapshots.MountAll(ms, rootfs); err != nil {
		return fmt.Errorf("container %s: mounting its file system: %w", id, err)
	}
	addMtab(rootfs)
	binds, releaseVolumes, err := m.setupMounts(id, mps, rootfs)
	undo = append(undo, releaseVolumes)
	if err != nil {
		return err
	}
	if err := m.writeHostname(c); err != nil {
		return err
	}
	if err := m.writeResolvConf(c); err != nil {
		return err
	}
	// The bundle binds the hosts file, which gets its content once the
	// addresses are known.
	if f, err := os.OpenFile(filepath.Join(m.dir(id), "hosts"), os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		f.Close()
	}
	c.mu.Lock()
	o := m.bundleOptions(c, rootfs, netns)
	c.mu.Unlock()
	o.Mounts = binds
	spec, err := bundle.Generate(o)
	if err != nil {
		return errdefs.Invalid("%v", err)
	}
	if err := bundle.Write(bundleDir, spec); err != nil {
		return err
	}
	mounted := time.Now()

	nr := waitNet()
	if nr.err != nil {
		return nr.err
	}
	c.mu.Lock()
	for name, es := range nr.settings {
		c.Networks[name] = es
	}
	c.Ports = nr.ports
	c.NetNSPath = netns
	c.mu.Unlock()
	m.hostsMu.Lock()
	err = m.writeHosts(c)
	m.hostsMu.Unlock()
	if err != nil {
		return err
	}
	networked := time.Now()

	maxSize, maxFile := logLimits(hc.LogConfig)
	c.mu.Lock()
	holdOutput := time.Duration(0)
	switch {
	case c.attachWaiters > 0:
		holdOutput = 30 * time.Second
	case cfg.AttachStdout || cfg.AttachStderr:
		// `docker run` creates with Attach* set, then attaches and starts:
		// a start that overtakes the attach holds the output briefly.
		holdOutput = 2 * time.Second
	}
	c.mu.Unlock()
	sh, err := client.Start(ctx, client.Options{
		Binary: m.cfg.ShimBinary, ID: id, Bundle: bundleDir,
		Runtime: m.runtimeBinary(hc.Runtime), RuntimeRoot: m.runtimeRoot(),
		StateDir: m.shimDir(id), LogPath: c.LogPath,
		LogMaxSize: maxSize, LogMaxFile: maxFile,
		Terminal: cfg.Tty, Stdin: cfg.OpenStdin,
		HoldOutput: holdOutput,
	})
	if err != nil {
		return startError(c.Path, err)
	}

	c.mu.Lock()
	c.shim, c.process = sh, spec.Process
	st := &c.State
	st.Status, st.Pid = types.StateRunning, sh.Pid
	st.StartedAt = time.Now().UTC()
	st.ExitCode, st.Error, st.OOMKilled = 0, "", false
	st.StartedBefore = true
	st.Health = nil
	c.stopping = false
	c.exited = make(chan struct{})
	c.released = make(chan struct{})
	m.notifyLocked(c)
	m.startHealthLocked(c, sh)
	if err := m.save(c); err != nil {
		m.log.Warn("saving a started container", "id", id, "err", err)
	}
	c.mu.Unlock()
	m.wg.Add(1)
	go m.monitor(c, sh)
	m.event(c, "start", nil)
	m.refreshPeers(id, joins)
	m.log.Debug("container started", "id", id, "mounts", mounted.Sub(began),
		"network", networked.Sub(began), "total", time.Since(began))
	return nil
}

// networkOrder is the container's networks, the primary one first. The
// caller holds c.mu.
func (c *Container) networkOrder() []string {
	primary := c.HostConfig.NetworkMode
	if primary == netDefault || primary == "" {
		primary = netBridge
	}
	var out []string
	for name := range c.Networks {
		if name != primary {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return append([]string{primary}, out...)
}

// netResult is what connecting a container's networks gives.
type netResult struct {
	settings map[string]*types.EndpointSettings
	ports    types.PortMap
	err      error
}

// connectNetworks joins the container to its networks, publishing its
// ports on the first bridge network. On failure it leaves none joined.
func (m *Manager) connectNetworks(ctx context.Context, id, name string, joins []string, requested map[string]types.EndpointSettings, netns string, cfg *types.ContainerConfig, hc *types.HostConfig) (r netResult) {
	r.settings = map[string]*types.EndpointSettings{}
	published := false
	for _, net := range joins {
		n, err := m.cfg.Network.Get(net)
		if err != nil {
			r.err = fmt.Errorf("network %s: %w", net, err)
			break
		}
		req := requested[net]
		ec := network.EndpointConfig{ContainerID: id, ContainerName: name, Aliases: req.Aliases}
		if n.Driver == network.DriverBridge && !published {
			published = true
			ec.Ports = portMappings(cfg, hc)
		}
		ep, err := m.cfg.Network.Connect(ctx, n.Name, netns, ec)
		if err != nil {
			r.err = err
			break
		}
		es := endpointSettings(ep, ec.Aliases)
		es.IPAMConfig, es.Links, es.DriverOpts = req.IPAMConfig, req.Links, req.DriverOpts
		r.settings[n.Name] = es
		if len(ep.Ports) > 0 {
			r.ports = publishedPorts(cfg, ep.Ports)
		}
	}
	if r.err != nil {
		m.disconnectAll(id, netns)
		return r
	}
	if r.ports == nil && len(cfg.ExposedPorts) > 0 {
		r.ports = publishedPorts(cfg, nil)
	}
	return r
}

// portMappings are -p's bindings, and with -P every other exposed port on
// a host port of the ephemeral range.
func portMappings(cfg *types.ContainerConfig, hc *types.HostConfig) []network.PortMapping {
	var out []network.PortMapping
	keys := make([]string, 0, len(cfg.ExposedPorts))
	for k := range cfg.ExposedPorts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		port, proto, err := parsePort(key)
		if err != nil {
			continue
		}
		bindings, published := hc.PortBindings[key]
		if !published && hc.PublishAllPorts {
			bindings = []types.PortBinding{{}}
		}
		for _, b := range bindings {
			hostPort, _ := strconv.Atoi(b.HostPort)
			out = append(out, network.PortMapping{HostIP: b.HostIP, HostPort: hostPort, ContainerPort: port, Protocol: proto})
		}
	}
	return out
}

// publishedPorts is the container's port map as inspect shows it: each
// exposed port with its host bindings (none when not published).
func publishedPorts(cfg *types.ContainerConfig, ports []network.PortMapping) types.PortMap {
	pm := types.PortMap{}
	for k := range cfg.ExposedPorts {
		port, proto, err := parsePort(k)
		if err == nil {
			pm[fmt.Sprintf("%d/%s", port, proto)] = nil
		}
	}
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		key := fmt.Sprintf("%d/%s", p.ContainerPort, proto)
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		pm[key] = append(pm[key], types.PortBinding{HostIP: ip, HostPort: strconv.Itoa(p.HostPort)})
	}
	return pm
}

// disconnectAll leaves every network the container is on.
func (m *Manager) disconnectAll(id, netns string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ep := range m.cfg.Network.Endpoints(id) {
		if err := m.cfg.Network.Disconnect(ctx, ep.NetworkName, id, netns); err != nil && !errdefs.IsNotFound(err) {
			m.log.Warn("leaving a network", "container", id, "network", ep.NetworkName, "err", err)
		}
	}
}

// removeBundle unmounts the rootfs and deletes the bundle directory;
// when the rootfs stays mounted it deletes nothing, so that no delete
// reaches into the container's files.
func removeBundle(dir string) {
	rootfs := filepath.Join(dir, "rootfs")
	if err := snapshots.Unmount(rootfs); err != nil {
		return
	}
	os.RemoveAll(dir)
}

// bundleOptions are the bundle package's options for c. The caller holds
// c.mu.
func (m *Manager) bundleOptions(c *Container, rootfs, netns string) bundle.Options {
	cfg, hc := c.Config, c.HostConfig
	o := bundle.Options{
		ID: c.ID, Rootfs: rootfs,
		Image: ocispec.ImageConfig{
			Env: cfg.Env, Cmd: append([]string{c.Path}, c.Args...),
			WorkingDir: cfg.WorkingDir, User: cfg.User, StopSignal: cfg.StopSignal,
		},
		User: cfg.User, GroupAdd: hc.GroupAdd,
		Hostname: cfg.Hostname, Domainname: cfg.Domainname,
		Tty: cfg.Tty, OpenStdin: cfg.OpenStdin,
		ReadOnlyRootfs: hc.ReadonlyRootfs, Privileged: hc.Privileged,
		CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, SecurityOpt: hc.SecurityOpt,
		Memory: hc.Memory, MemoryReservation: hc.MemoryReservation, MemorySwap: hc.MemorySwap,
		NanoCPUs: hc.NanoCPUs, CPUShares: hc.CPUShares, CPUPeriod: hc.CPUPeriod, CPUQuota: hc.CPUQuota,
		CpusetCpus: hc.CpusetCpus, CpusetMems: hc.CpusetMems,
		PidsLimit: hc.PidsLimit, OomScoreAdj: hc.OomScoreAdj,
		ShmSize: hc.ShmSize, Sysctls: hc.Sysctls,
		NetNSPath: netns, HostNetwork: hc.NetworkMode == netHost,
		HostsPath: c.HostsPath, HostnamePath: c.HostnamePath, ResolvConfPath: c.ResolvConfPath,
		CgroupsPath: "/xmgr/" + c.ID,
		Init:        hc.Init != nil && *hc.Init, InitPath: m.cfg.InitBinary,
		Labels: cfg.Labels, StopSignal: cfg.StopSignal,
	}
	for _, u := range hc.Ulimits {
		if u != nil {
			o.Ulimits = append(o.Ulimits, bundle.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
		}
	}
	return o
}

// runtimeBinary is the OCI runtime for --runtime ("" is the daemon's).
func (m *Manager) runtimeBinary(name string) string {
	if name == "runc" {
		return "runc"
	}
	return m.cfg.Runtime
}

// logLimits reads json-file's max-size and max-file.
func logLimits(lc types.LogConfig) (int64, int) {
	size, _ := parseSize(lc.Config["max-size"])
	files, _ := strconv.Atoi(lc.Config["max-file"])
	return size, files
}

// startError words a failed start as Docker does, so that clients can
// tell a missing command (exit 127) and one that cannot run (126). Only
// what the shim reported is the runtime's word on the command: a shim
// that could not be started at all is said to be that.
func startError(path string, err error) error {
	var shimErr *client.ShimError
	if !errors.As(err, &shimErr) {
		return fmt.Errorf("failed to create shim: %w", err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found") && strings.Contains(msg, path):
		return fmt.Errorf("OCI runtime create failed: exec: %q: executable file not found in $PATH: unknown", path)
	case strings.Contains(msg, "no such file or directory") && strings.Contains(msg, path):
		return fmt.Errorf("OCI runtime create failed: exec: %q: stat %s: no such file or directory: unknown", path, path)
	case strings.Contains(msg, "permission denied"):
		return fmt.Errorf("OCI runtime create failed: exec: %q: permission denied: unknown", path)
	}
	return fmt.Errorf("OCI runtime create failed: %s: unknown", strings.TrimPrefix(msg, "start container "))
}

// startExitCode is Docker's exit code for a failed start.
func startExitCode(msg string) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
}

// recordStartError notes a failed start on the container, which stays
// as it was (created or exited).
func (m *Manager) recordStartError(c *Container, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.State.Error = err.Error()
	c.State.ExitCode = startExitCode(err.Error())
	c.clearNetworkLocked()
	if serr := m.save(c); serr != nil && !errors.Is(serr, os.ErrNotExist) {
		m.log.Warn("saving a failed start", "id", c.ID, "err", serr)
	}
	m.notifyLocked(c)
}

// clearNetworkLocked forgets the addresses of a run that ended, keeping
// what was asked for. The caller holds c.mu.
func (c *Container) clearNetworkLocked() {
	for name, es := range c.Networks {
		c.Networks[name] = &types.EndpointSettings{
			IPAMConfig: es.IPAMConfig, Links: es.Links, Aliases: es.Aliases, DriverOpts: es.DriverOpts,
			NetworkID: es.NetworkID,
		}
	}
	c.Ports = nil
	c.NetNSPath = ""
}

// notifyLocked wakes whoever watches c's state. The caller holds c.mu.
func (m *Manager) notifyLocked(c *Container) {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}
