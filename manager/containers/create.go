package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/bundle"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
)

// ContainerCreate makes a container from an image and Docker's run
// options: it checks every option first, then makes the container's
// directory, its writable snapshot and its volumes, and records it as
// "created". A failure leaves nothing behind.
func (m *Manager) ContainerCreate(ctx context.Context, name string, req *types.ContainerCreateRequest) (*types.ContainerCreateResponse, error) {
	if req == nil {
		return nil, errdefs.Invalid("config cannot be empty in order to create a container")
	}
	if req.Image == "" {
		return nil, errdefs.Invalid("no image given: a container needs an image")
	}
	hc := &types.HostConfig{}
	if req.HostConfig != nil {
		copied := *req.HostConfig
		hc = &copied
	}
	img, err := m.cfg.Images.Resolve(req.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, errdefs.NotFound("No such image: %s", req.Image)
		}
		return nil, err
	}
	cfg, err := mergeConfig(req.ContainerConfig, img)
	if err != nil {
		return nil, err
	}
	cfg.Image = req.Image
	path, args, err := commandLine(cfg)
	if err != nil {
		return nil, err
	}
	networks, err := m.validateHostConfig(cfg, hc, req.NetworkingConfig)
	if err != nil {
		return nil, err
	}
	mounts, volumeOpts, err := parseMounts(cfg, hc)
	if err != nil {
		return nil, err
	}

	id := m.newID()
	if hc.NetworkMode == netHost {
		cfg.Hostname, _ = os.Hostname()
	} else if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
	}
	dir := m.dir(id)
	c := &Container{
		ID: id, Created: time.Now().UTC(),
		Image: req.Image, ImageID: img.ID.String(),
		Path: path, Args: args,
		Config: cfg, HostConfig: hc, Networks: networks,
		MountPoints:    mounts,
		State:          State{Status: types.StateCreated},
		Driver:         m.cfg.Driver,
		SnapshotKey:    "ctr-" + id,
		LogPath:        filepath.Join(dir, id+"-json.log"),
		HostsPath:      filepath.Join(dir, "hosts"),
		HostnamePath:   filepath.Join(dir, "hostname"),
		ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		exited:         make(chan struct{}),
		released:       make(chan struct{}),
		removed:        make(chan struct{}),
		changed:        make(chan struct{}),
	}
	close(c.exited)
	close(c.released)
	if len(img.Layers) > 0 {
		c.ChainID = img.Layers[len(img.Layers)-1].String()
	}
	// The options the bundle package checks (capabilities, security
	// options, ulimits, sysctls...) are checked on an empty root now, so
	// that they fail the create rather than the start.
	if err := m.dryRunBundle(c); err != nil {
		return nil, errdefs.Invalid("%v", err)
	}

	if name == "" {
		name = m.generateName(id)
	}
	if err := m.reserveName(name, id); err != nil {
		return nil, err
	}
	c.Name = strings.TrimPrefix(name, "/")

	var undo []func()
	fail := func(err error) (*types.ContainerCreateResponse, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		m.releaseName(c.Name, id)
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o710); err != nil {
		return fail(fmt.Errorf("container %s: %w", id, err))
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	if _, err := m.cfg.Layers.Mounts(c.SnapshotKey, digest.Digest(c.ChainID), false); err != nil {
		return fail(fmt.Errorf("container %s: preparing its file system: %w", id, err))
	}
	undo = append(undo, func() { m.cfg.Layers.Snapshotter().Remove(c.SnapshotKey) })
	unmake, err := makeBindSources(hc.Binds)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, unmake)
	made, err := m.createVolumes(c, volumeOpts)
	undo = append(undo, func() {
		for _, v := range made {
			m.cfg.Volumes.Remove(v, true)
		}
	})
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	err = m.save(c)
	c.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	m.mu.Lock()
	m.byID[id] = c
	m.mu.Unlock()
	m.event(c, "create", nil)
	return &types.ContainerCreateResponse{ID: id, Warnings: []string{}}, nil
}

// netHost and friends are the network modes that are no network's name.
const (
	netHost    = "host"
	netNone    = "none"
	netBridge  = "bridge"
	netDefault = "default"
)

// event publishes a container event with Docker's attributes: name,
// image and the container's labels.
// The caller does not hold c.mu.
func (m *Manager) event(c *Container, action string, extra map[string]string) {
	c.mu.Lock()
	attrs := m.eventAttributes(c)
	c.mu.Unlock()
	maps.Copy(attrs, extra)
	m.cfg.Events(types.ContainerEventType, action, c.ID, attrs)
}

// mergeConfig lays the request's config over the image's, as Docker
// does: the request's values win; env and labels merge by key; exposed
// ports and volumes are the union; an entrypoint in the request drops the
// image's Cmd unless the request gives one too.
func mergeConfig(req types.ContainerConfig, img *images.Image) (*types.ContainerConfig, error) {
	c := req
	ic := img.Config.Config
	if c.User == "" {
		c.User = ic.User
	}
	if c.WorkingDir == "" {
		c.WorkingDir = ic.WorkingDir
	}
	if c.StopSignal == "" {
		c.StopSignal = ic.StopSignal
	}
	c.Env = mergeEnv(ic.Env, req.Env)
	if len(ic.Labels) > 0 {
		labels := maps.Clone(ic.Labels)
		maps.Copy(labels, req.Labels)
		c.Labels = labels
	}
	if len(ic.ExposedPorts) > 0 {
		ports := map[string]struct{}{}
		maps.Copy(ports, ic.ExposedPorts)
		maps.Copy(ports, req.ExposedPorts)
		c.ExposedPorts = ports
	}
	if len(ic.Volumes) > 0 {
		vols := map[string]struct{}{}
		maps.Copy(vols, ic.Volumes)
		maps.Copy(vols, req.Volumes)
		c.Volumes = vols
	}
	if len(c.Entrypoint) == 0 {
		if len(c.Cmd) == 0 {
			c.Cmd = slices.Clone(ic.Cmd)
			c.ArgsEscaped = ic.ArgsEscaped
		}
		if c.Entrypoint == nil {
			c.Entrypoint = slices.Clone(ic.Entrypoint)
		}
	}
	hc, err := imageHealthcheck(img.RawConfig)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Healthcheck == nil:
		c.Healthcheck = hc
	case hc != nil:
		merged := *c.Healthcheck
		if len(merged.Test) == 0 {
			merged.Test = hc.Test
		}
		if merged.Interval == 0 {
			merged.Interval = hc.Interval
		}
		if merged.Timeout == 0 {
			merged.Timeout = hc.Timeout
		}
		if merged.StartPeriod == 0 {
			merged.StartPeriod = hc.StartPeriod
		}
		if merged.Retries == 0 {
			merged.Retries = hc.Retries
		}
		c.Healthcheck = &merged
	}
	return &c, nil
}

// mergeEnv is the request's env followed by the image's variables that
// the request does not set (Docker's order).
func mergeEnv(image, req []string) []string {
	out := slices.Clone(req)
	set := map[string]bool{}
	for _, kv := range req {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	for _, kv := range image {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			out = append(out, kv)
		}
	}
	return out
}

// imageHealthcheck reads Docker's Healthcheck from an image config (the
// OCI config type has no place for it).
func imageHealthcheck(raw []byte) (*types.HealthConfig, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var doc struct {
		Config struct {
			Healthcheck *types.HealthConfig
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return doc.Config.Healthcheck, nil
}

// commandLine is the process a container runs: entrypoint then cmd.
// `--entrypoint ""` ([""]) means no entrypoint.
func commandLine(cfg *types.ContainerConfig) (string, []string, error) {
	ep := cfg.Entrypoint
	if len(ep) == 1 && ep[0] == "" {
		ep = nil
	}
	argv := append(slices.Clone(ep), cfg.Cmd...)
	if len(argv) == 0 {
		return "", nil, errdefs.Invalid("No command specified")
	}
	return argv[0], argv[1:], nil
}

// createVolumes creates the named volumes that do not exist yet and an
// anonymous volume for each volume mount without a name. It returns the
// volumes it made (to undo a failed create).
func (m *Manager) createVolumes(c *Container, opts []*types.VolumeOptions) ([]string, error) {
	var made []string
	for i := range c.MountPoints {
		mp := &c.MountPoints[i]
		if mp.Type != mountVolume {
			continue
		}
		if mp.Name != "" {
			if _, err := m.cfg.Volumes.Get(mp.Name); err == nil {
				continue
			} else if !errdefs.IsNotFound(err) {
				return made, err
			}
		}
		var driver string
		var driverOpts, labels map[string]string
		if o := opts[i]; o != nil {
			labels = o.Labels
			if o.DriverConfig != nil {
				driver, driverOpts = o.DriverConfig.Name, o.DriverConfig.Options
			}
		}
		v, err := m.cfg.Volumes.Create(mp.Name, driver, driverOpts, labels)
		if err != nil {
			return made, fmt.Errorf("create %s: %w", mp.Name, err)
		}
		made = append(made, v.Name)
		mp.Name = v.Name
		mp.Source = v.Mountpoint
	}
	return made, nil
}

// dryRunBundle generates the container's bundle against an empty root,
// so that what only the bundle package checks fails now.
func (m *Manager) dryRunBundle(c *Container) error {
	root, err := os.MkdirTemp("", "xmgr-dryrun-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	o := m.bundleOptions(c, root, "")
	// The empty root has no /etc/passwd: the user (given, or the
	// image's) is resolved at start.
	o.User, o.Image.User, o.GroupAdd = "", "", nil
	o.HostsPath, o.HostnamePath, o.ResolvConfPath = "", "", ""
	o.Mounts = nil
	_, err = bundle.Generate(o)
	return err
}

// generateName is Docker's "adjective_surname" for a container without a
// name, with a digit added when the plain one is taken.
func (m *Manager) generateName(id string) string {
	seed := 0
	for _, b := range []byte(id[:16]) {
		seed = seed*31 + int(b)
	}
	if seed < 0 {
		seed = -seed
	}
	for try := 0; try < 100; try++ {
		n := seed + try*7919
		name := adjectives[n%len(adjectives)] + "_" + surnames[(n/len(adjectives))%len(surnames)]
		if try > 0 {
			name += fmt.Sprint(try % 10)
		}
		m.mu.RLock()
		_, taken := m.byName[name]
		m.mu.RUnlock()
		if !taken {
			return name
		}
	}
	return id[:12] // reserveName then says what is wrong, if anything
}

var adjectives = []string{
	"admiring", "agile", "amazing", "awesome", "blissful", "bold", "brave", "busy",
	"calm", "charming", "clever", "cool", "crazy", "dazzling", "determined", "eager",
	"ecstatic", "elated", "elegant", "epic", "fervent", "festive", "focused", "friendly",
	"gallant", "gentle", "gifted", "goofy", "gracious", "happy", "hopeful", "hungry",
	"inspiring", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid",
	"magical", "modest", "musing", "nifty", "nostalgic", "optimistic", "peaceful", "pensive",
	"quirky", "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting",
	"upbeat", "vibrant", "vigilant", "wizardly", "youthful", "zealous", "zen",
}

var surnames = []string{
	"agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik",
	"bell", "bohr", "booth", "borg", "bose", "brahmagupta", "cannon", "carson",
	"cerf", "chandrasekhar", "clarke", "curie", "darwin", "dijkstra", "einstein", "euclid",
	"euler", "fermat", "feynman", "franklin", "galileo", "gauss", "goldberg", "hamilton",
	"hawking", "hodgkin", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr",
	"leakey", "lovelace", "mayer", "mccarthy", "meitner", "newton", "noether", "pascal",
	"ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak", "yonath",
}

// validateHostConfig checks the run options as Docker does, before
// anything is made, and returns the networks the container joins with
// their requested settings.
func (m *Manager) validateHostConfig(cfg *types.ContainerConfig, hc *types.HostConfig, nc *types.NetworkingConfig) (map[string]*types.EndpointSettings, error) {
	if err := validateRestartPolicy(hc); err != nil {
		return nil, err
	}
	if err := validateResources(&hc.Resources); err != nil {
		return nil, err
	}
	if err := validateLogConfig(hc.LogConfig); err != nil {
		return nil, err
	}
	if err := validateHealthcheck(cfg.Healthcheck); err != nil {
		return nil, err
	}
	for flag, mode := range map[string]string{"--pid": hc.PidMode, "--ipc": hc.IpcMode, "--uts": hc.UTSMode, "--userns": hc.UsernsMode, "--cgroupns": hc.CgroupnsMode} {
		switch mode {
		case "", "private", "shareable":
		default:
			return nil, errdefs.Invalid("%s=%s is not supported by xmgr (only private namespaces)", flag, mode)
		}
	}
	switch {
	case len(hc.Devices) > 0:
		return nil, errdefs.Invalid("--device is not supported by xmgr")
	case len(hc.VolumesFrom) > 0:
		return nil, errdefs.Invalid("--volumes-from is not supported by xmgr")
	case len(hc.Links) > 0:
		return nil, errdefs.Invalid("--link is not supported by xmgr: use a user-defined network")
	case hc.Runtime != "" && hc.Runtime != "xrt" && hc.Runtime != "runc":
		return nil, errdefs.Invalid("Unknown runtime specified %s", hc.Runtime)
	}
	for _, h := range hc.ExtraHosts {
		if err := types.ValidateExtraHost(h); err != nil {
			return nil, err
		}
	}
	for _, d := range hc.DNS {
		if net.ParseIP(d) == nil {
			return nil, errdefs.Invalid("%s is not an ip address", d)
		}
	}
	if err := validatePorts(cfg, hc); err != nil {
		return nil, err
	}
	return m.validateNetworks(hc, nc)
}

func validateRestartPolicy(hc *types.HostConfig) error {
	p := hc.RestartPolicy
	switch p.Name {
	case "", "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return errdefs.Invalid("maximum retry count cannot be used with restart policy '%s'", p.Name)
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return errdefs.Invalid("maximum retry count cannot be negative")
		}
	default:
		return errdefs.Invalid("invalid restart policy '%s'", p.Name)
	}
	if hc.AutoRemove && p.Name != "" && p.Name != "no" {
		return errdefs.Invalid("Conflicting options: --restart and --rm")
	}
	return nil
}

// minMemory is Docker's smallest memory limit.
const minMemory = 6 << 20

func validateResources(r *types.Resources) error {
	switch {
	case r.Memory < 0 || (r.Memory > 0 && r.Memory < minMemory):
		return errdefs.Invalid("Minimum memory limit allowed is 6MB")
	case r.MemorySwap > 0 && r.Memory == 0:
		return errdefs.Invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
	case r.MemorySwap > 0 && r.MemorySwap < r.Memory:
		return errdefs.Invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
	case r.MemoryReservation < 0 || (r.Memory > 0 && r.MemoryReservation > r.Memory):
		return errdefs.Invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
	case r.CPUShares < 0:
		return errdefs.Invalid("invalid CPU shares %d: must not be negative", r.CPUShares)
	case r.NanoCPUs > 0 && (r.CPUPeriod > 0 || r.CPUQuota > 0):
		return errdefs.Invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if n := int64(runtime.NumCPU()); r.NanoCPUs < 0 || (r.NanoCPUs > 0 && r.NanoCPUs < 1e7) || r.NanoCPUs > n*1e9 {
		return errdefs.Invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	for _, u := range r.Ulimits {
		if u == nil {
			continue
		}
		if u.Soft > u.Hard && u.Hard != -1 {
			return errdefs.Invalid("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
	}
	return nil
}

// logOptions are the json-file driver's options.
func validateLogConfig(lc types.LogConfig) error {
	if lc.Type != "" && lc.Type != "json-file" {
		return errdefs.Invalid("logger: no log driver named '%s' is registered (xmgr has json-file only)", lc.Type)
	}
	for k, v := range lc.Config {
		switch k {
		case "max-size":
			if _, err := parseSize(v); err != nil {
				return errdefs.Invalid("invalid max-size %q: %v", v, err)
			}
		case "max-file":
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return errdefs.Invalid("invalid value for max-file: %s (a number of at least 1)", v)
			}
		case "compress", "labels", "env", "env-regex", "tag", "mode", "max-buffer-size":
		default:
			return errdefs.Invalid("unknown log opt '%s' for json-file log driver", k)
		}
	}
	return nil
}

// parseSize reads Docker's sizes: "10", "10k", "64m", "1g" (powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size: %q", s)
	}
	return int64(v * float64(mult)), nil
}

func validateHealthcheck(h *types.HealthConfig) error {
	if h == nil {
		return nil
	}
	switch {
	case h.Interval != 0 && h.Interval < time.Millisecond:
		return errdefs.Invalid("Interval in Healthcheck cannot be less than 1ms")
	case h.Timeout != 0 && h.Timeout < time.Millisecond:
		return errdefs.Invalid("Timeout in Healthcheck cannot be less than 1ms")
	case h.StartPeriod != 0 && h.StartPeriod < time.Millisecond:
		return errdefs.Invalid("StartPeriod in Healthcheck cannot be less than 1ms")
	case h.Retries < 0:
		return errdefs.Invalid("Retries in Healthcheck cannot be negative")
	}
	if len(h.Test) > 0 {
		switch h.Test[0] {
		case types.HealthCmdNone, types.HealthCmd, types.HealthCmdShell:
		default:
			return errdefs.Invalid("unknown health check type %q: NONE, CMD or CMD-SHELL", h.Test[0])
		}
		if h.Test[0] != types.HealthCmdNone && len(h.Test) < 2 {
			return errdefs.Invalid("health check %s needs a command", h.Test[0])
		}
	}
	return nil
}

// parsePort reads "80/tcp" (the protocol defaults to tcp).
func parsePort(key string) (int, string, error) {
	num, proto, _ := strings.Cut(key, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return 0, "", errdefs.Invalid("invalid proto: %s (xmgr publishes tcp and udp)", proto)
	}
	p, err := strconv.Atoi(num)
	if err != nil || p < 1 || p > 65535 {
		return 0, "", errdefs.Invalid("invalid port specification: %q", key)
	}
	return p, proto, nil
}

// validatePorts checks -p and EXPOSE, and exposes every published port.
func validatePorts(cfg *types.ContainerConfig, hc *types.HostConfig) error {
	for key := range cfg.ExposedPorts {
		if _, _, err := parsePort(key); err != nil {
			return err
		}
	}
	for key, bindings := range hc.PortBindings {
		if _, _, err := parsePort(key); err != nil {
			return err
		}
		for _, b := range bindings {
			if b.HostIP != "" && net.ParseIP(b.HostIP) == nil {
				return errdefs.Invalid("invalid host IP %q for port %s", b.HostIP, key)
			}
			if b.HostPort == "" {
				continue
			}
			if p, err := strconv.Atoi(b.HostPort); err != nil || p < 1 || p > 65535 {
				return errdefs.Invalid("invalid host port %q for port %s (a number from 1 to 65535; ranges are not supported)", b.HostPort, key)
			}
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		cfg.ExposedPorts[key] = struct{}{}
	}
	return nil
}

// validateNetworks checks --network and the networking config, and
// returns the container's networks by name (the first is the primary).
func (m *Manager) validateNetworks(hc *types.HostConfig, nc *types.NetworkingConfig) (map[string]*types.EndpointSettings, error) {
	mode := hc.NetworkMode
	if mode == "" {
		hc.NetworkMode = netDefault
		mode = netDefault
	}
	if strings.HasPrefix(mode, "container:") {
		return nil, errdefs.Invalid("--network %s is not supported by xmgr", mode)
	}
	primary := mode
	if mode == netDefault {
		primary = netBridge
	}
	n, err := m.cfg.Network.Get(primary)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, errdefs.NotFound("network %s not found", primary)
		}
		return nil, err
	}
	primary = n.Name
	if mode != netDefault {
		hc.NetworkMode = primary // a network ID given becomes its name
	}
	out := map[string]*types.EndpointSettings{primary: {}}
	if nc == nil {
		return out, nil
	}
	for name, es := range nc.EndpointsConfig {
		if name == mode && mode == netDefault {
			name = netBridge
		}
		n, err := m.cfg.Network.Get(name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return nil, errdefs.NotFound("network %s not found", name)
			}
			return nil, err
		}
		if n.Name != primary && (primary == netHost || primary == netNone || n.Name == netHost || n.Name == netNone) {
			return nil, errdefs.Invalid("container cannot be connected to network %s: it is on network %s, which admits no other", n.Name, primary)
		}
		settings := &types.EndpointSettings{}
		if es != nil {
			settings.IPAMConfig = es.IPAMConfig
			settings.Aliases = slices.Clone(es.Aliases)
			settings.Links = es.Links
			settings.DriverOpts = es.DriverOpts
		}
		if len(settings.Aliases) > 0 && (n.Name == netBridge || n.Name == netHost || n.Name == netNone) {
			return nil, errdefs.Invalid("network-scoped alias is supported only for containers in user defined networks")
		}
		out[n.Name] = settings
	}
	return out, nil
}
