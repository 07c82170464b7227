package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// createFlags are the flags run and create share: everything that shapes
// the container (run adds -d, --sig-proxy and --detach-keys).
// limitFlags are the CPU and memory flags that run, create, update and
// build share (parseResources reads them).
func limitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Int64Flag{Name: "cpu-period", Usage: "limit the CPU CFS (Completely Fair Scheduler) period"},
		&cli.Int64Flag{Name: "cpu-quota", Usage: "limit the CPU CFS (Completely Fair Scheduler) quota"},
		&cli.Int64Flag{Name: "cpu-shares", Aliases: []string{"c"}, Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs in which to allow execution (0-3, 0,1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "MEMs in which to allow execution (0-3, 0,1)"},
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "swap limit equal to memory plus swap: '-1' to enable unlimited swap"},
	}
}

func createFlags() []cli.Flag {
	str := func(name string, aliases []string, usage string) cli.Flag {
		return &cli.StringFlag{Name: name, Aliases: aliases, Usage: usage}
	}
	list := func(name string, aliases []string, usage string) cli.Flag {
		return &cli.StringSliceFlag{Name: name, Aliases: aliases, Usage: usage}
	}
	flag := func(name string, aliases []string, usage string) cli.Flag {
		return &cli.BoolFlag{Name: name, Aliases: aliases, Usage: usage}
	}
	return append([]cli.Flag{
		list("add-host", nil, "add a custom host-to-IP mapping (host:ip)"),
		list("attach", []string{"a"}, "attach to STDIN, STDOUT or STDERR"),
		list("cap-add", nil, "add Linux capabilities"),
		list("cap-drop", nil, "drop Linux capabilities"),
		str("cidfile", nil, "write the container ID to the file"),
		str("cpus", nil, "number of CPUs"),
		list("dns", nil, "set custom DNS servers"),
		list("dns-option", []string{"dns-opt"}, "set DNS options"),
		list("dns-search", nil, "set custom DNS search domains"),
		str("domainname", nil, "container NIS domain name"),
		str("entrypoint", nil, "overwrite the default ENTRYPOINT of the image"),
		list("env", []string{"e"}, "set environment variables"),
		list("env-file", nil, "read in a file of environment variables"),
		list("expose", nil, "expose a port or a range of ports"),
		list("group-add", nil, "add additional groups to join"),
		str("health-cmd", nil, "command to run to check health"),
		&cli.DurationFlag{Name: "health-interval", Usage: "time between running the check (ms|s|m|h)"},
		&cli.IntFlag{Name: "health-retries", Usage: "consecutive failures needed to report unhealthy"},
		&cli.DurationFlag{Name: "health-start-period", Usage: "start period for the container to initialize before starting health-retries countdown (ms|s|m|h)"},
		&cli.DurationFlag{Name: "health-timeout", Usage: "maximum time to allow one check to run (ms|s|m|h)"},
		str("hostname", []string{"h"}, "container host name"),
		flag("init", nil, "run an init inside the container that forwards signals and reaps processes"),
		flag("interactive", []string{"i"}, "keep STDIN open even if not attached"),
		list("label", []string{"l"}, "set meta data on a container"),
		list("label-file", nil, "read in a line delimited file of labels"),
		str("log-driver", nil, "logging driver for the container (json-file)"),
		list("log-opt", nil, "log driver options (max-size, max-file)"),
		str("memory-reservation", nil, "memory soft limit"),
		list("mount", nil, "attach a filesystem mount to the container"),
		str("name", nil, "assign a name to the container"),
		str("network", []string{"net"}, "connect a container to a network"),
		list("network-alias", []string{"net-alias"}, "add network-scoped alias for the container"),
		flag("no-healthcheck", nil, "disable any container-specified HEALTHCHECK"),
		&cli.IntFlag{Name: "oom-score-adj", Usage: "tune host's OOM preferences (-1000 to 1000)"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "tune container pids limit (set -1 for unlimited)"},
		str("platform", nil, "set platform if server is multi-platform capable"),
		flag("privileged", nil, "give extended privileges to this container"),
		list("publish", []string{"p"}, "publish a container's port(s) to the host"),
		flag("publish-all", []string{"P"}, "publish all exposed ports to random ports"),
		&cli.StringFlag{Name: "pull", Value: "missing", Usage: `pull image before running ("always"|"missing"|"never")`},
		flag("read-only", nil, "mount the container's root filesystem as read only"),
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "restart policy to apply when a container exits"},
		flag("rm", nil, "automatically remove the container when it exits"),
		str("runtime", nil, "runtime to use for this container"),
		list("security-opt", nil, "security options"),
		str("shm-size", nil, "size of /dev/shm"),
		str("stop-signal", nil, "signal to stop the container"),
		&cli.IntFlag{Name: "stop-timeout", Usage: "timeout (in seconds) to stop a container"},
		list("sysctl", nil, "sysctl options"),
		list("tmpfs", nil, "mount a tmpfs directory"),
		flag("tty", []string{"t"}, "allocate a pseudo-TTY"),
		list("ulimit", nil, "ulimit options"),
		str("user", []string{"u"}, "username or UID (format: <name|uid>[:<group|gid>])"),
		list("volume", []string{"v"}, "bind mount a volume"),
		list("volumes-from", nil, "mount volumes from the specified container(s)"),
		str("workdir", []string{"w"}, "working directory inside the container"),
		// -h is --hostname, as docker's: help is --help only.
		&cli.BoolFlag{Name: "help", Usage: "show help"},
	}, limitFlags()...)
}

// createOptions is a parsed run or create command line.
type createOptions struct {
	name     string
	platform string
	pull     string // always, missing, never
	cidfile  string
	req      types.ContainerCreateRequest
}

// flagError is docker's message for a flag value it cannot use.
func flagError(flag, value string, err error) error {
	return usagef("invalid argument %q for \"--%s\" flag: %v", value, flag, err)
}

// parseCreateOptions turns run's or create's command line (flags, IMAGE,
// COMMAND...) into the create request, as docker's CLI builds it.
// Anything it cannot use is a usage error naming the flag.
func parseCreateOptions(c *cli.Context) (*createOptions, error) {
	if err := needArgs(c, 1); err != nil {
		return nil, err
	}
	o := &createOptions{name: c.String("name"), platform: c.String("platform"), cidfile: c.String("cidfile")}
	switch o.pull = c.String("pull"); o.pull {
	case "always", "missing", "never":
	default:
		return nil, usagef(`invalid pull option: '%s': must be one of "always", "missing" or "never"`, o.pull)
	}
	cfg := &o.req.ContainerConfig
	hc := &types.HostConfig{NetworkMode: "default"}
	o.req.HostConfig = hc

	cfg.Image = c.Args().First()
	if cfg.Image == "" {
		return nil, usagef("invalid reference format: the image name is empty")
	}
	if args := c.Args().Tail(); len(args) > 0 {
		cfg.Cmd = args
	}
	if c.IsSet("entrypoint") {
		// An empty --entrypoint resets the image's.
		cfg.Entrypoint = []string{c.String("entrypoint")}
	}
	cfg.Hostname = c.String("hostname")
	cfg.Domainname = c.String("domainname")
	cfg.User = c.String("user")
	cfg.WorkingDir = c.String("workdir")
	if cfg.WorkingDir != "" && !path.IsAbs(cfg.WorkingDir) {
		return nil, usagef("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
	}
	cfg.Tty = c.Bool("tty")
	cfg.OpenStdin = c.Bool("interactive")
	cfg.StopSignal = c.String("stop-signal")
	if c.IsSet("stop-timeout") {
		t := c.Int("stop-timeout")
		cfg.StopTimeout = &t
	}
	if err := parseAttach(c.StringSlice("attach"), cfg); err != nil {
		return nil, err
	}

	var err error
	if cfg.Env, err = parseEnv(c.StringSlice("env-file"), c.StringSlice("env")); err != nil {
		return nil, err
	}
	if cfg.Labels, err = parseLabels(c.StringSlice("label-file"), c.StringSlice("label")); err != nil {
		return nil, err
	}
	if cfg.Healthcheck, err = parseHealth(c); err != nil {
		return nil, err
	}

	// Ports.
	var exposed types.PortSet
	if exposed, hc.PortBindings, err = parsePublish(c.StringSlice("publish")); err != nil {
		return nil, err
	}
	if err := parseExpose(c.StringSlice("expose"), exposed); err != nil {
		return nil, err
	}
	if len(exposed) > 0 {
		cfg.ExposedPorts = exposed
	}
	hc.PublishAllPorts = c.Bool("publish-all")

	// Storage.
	for _, v := range c.StringSlice("volume") {
		bind, anon, err := parseVolume(v)
		if err != nil {
			return nil, flagError("volume", v, err)
		}
		if anon != "" {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[anon] = struct{}{}
		} else {
			hc.Binds = append(hc.Binds, bind)
		}
	}
	for _, v := range c.StringSlice("mount") {
		m, err := parseMount(v)
		if err != nil {
			return nil, flagError("mount", v, err)
		}
		hc.Mounts = append(hc.Mounts, m)
	}
	for _, v := range c.StringSlice("tmpfs") {
		dst, opts, _ := strings.Cut(v, ":")
		if !path.IsAbs(dst) {
			return nil, flagError("tmpfs", v, fmt.Errorf("mount path must be absolute"))
		}
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		hc.Tmpfs[dst] = opts
	}
	hc.VolumesFrom = c.StringSlice("volumes-from")
	hc.ReadonlyRootfs = c.Bool("read-only")

	// Network.
	if n := c.String("network"); n != "" {
		hc.NetworkMode = n
	}
	if aliases := c.StringSlice("network-alias"); len(aliases) > 0 {
		o.req.NetworkingConfig = &types.NetworkingConfig{EndpointsConfig: map[string]*types.EndpointSettings{
			hc.NetworkMode: {Aliases: aliases},
		}}
	}
	for _, d := range c.StringSlice("dns") {
		if net.ParseIP(d) == nil {
			return nil, flagError("dns", d, fmt.Errorf("%s is not an ip address", d))
		}
	}
	hc.DNS = c.StringSlice("dns")
	hc.DNSSearch = c.StringSlice("dns-search")
	hc.DNSOptions = c.StringSlice("dns-option")
	if hc.ExtraHosts, err = parseExtraHosts(c); err != nil {
		return nil, err
	}

	// Resources.
	if err := parseResources(c, &hc.Resources); err != nil {
		return nil, err
	}
	if hc.ShmSize, err = parseShmSize(c); err != nil {
		return nil, err
	}
	hc.OomScoreAdj = c.Int("oom-score-adj")
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return nil, usagef("invalid value %d for \"--oom-score-adj\" flag: the range is [-1000, 1000]", hc.OomScoreAdj)
	}

	// Security and process.
	hc.Privileged = c.Bool("privileged")
	hc.CapAdd = c.StringSlice("cap-add")
	hc.CapDrop = c.StringSlice("cap-drop")
	hc.SecurityOpt = c.StringSlice("security-opt")
	hc.GroupAdd = c.StringSlice("group-add")
	hc.Runtime = c.String("runtime")
	if c.IsSet("init") {
		v := c.Bool("init")
		hc.Init = &v
	}
	if hc.Sysctls, err = parseKeyValues("sysctl", c.StringSlice("sysctl")); err != nil {
		return nil, err
	}

	// Lifecycle and logs.
	if hc.RestartPolicy, err = parseRestart(c.String("restart")); err != nil {
		return nil, err
	}
	hc.AutoRemove = c.Bool("rm")
	if hc.AutoRemove && hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != "no" {
		return nil, usagef("conflicting options: cannot specify both --restart and --rm")
	}
	hc.LogConfig.Type = c.String("log-driver")
	if hc.LogConfig.Config, err = parseKeyValues("log-opt", c.StringSlice("log-opt")); err != nil {
		return nil, err
	}
	hc.ContainerIDFile = o.cidfile
	return o, nil
}

// parseAttach sets which streams a foreground run attaches: -a's, or
// stdout and stderr (and stdin with -i) by default.
func parseAttach(values []string, cfg *types.ContainerConfig) error {
	for _, v := range values {
		switch strings.ToLower(v) {
		case "stdin":
			cfg.AttachStdin = true
		case "stdout":
			cfg.AttachStdout = true
		case "stderr":
			cfg.AttachStderr = true
		default:
			return flagError("attach", v, fmt.Errorf("valid streams are STDIN, STDOUT and STDERR"))
		}
	}
	if cfg.OpenStdin {
		cfg.AttachStdin = true
	}
	if len(values) == 0 {
		cfg.AttachStdout, cfg.AttachStderr = true, true
	}
	return nil
}

// parseResources reads the cgroup limits.
func parseResources(c *cli.Context, r *types.Resources) error {
	var err error
	size := func(flag string, dst *int64) {
		if err != nil {
			return
		}
		if s := c.String(flag); s != "" {
			if *dst, err = units.RAMInBytes(s); err != nil {
				err = flagError(flag, s, err)
			}
		}
	}
	size("memory", &r.Memory)
	size("memory-reservation", &r.MemoryReservation)
	if s := c.String("memory-swap"); s == "-1" {
		r.MemorySwap = -1
	} else {
		size("memory-swap", &r.MemorySwap)
	}
	if err != nil {
		return err
	}
	if s := c.String("cpus"); s != "" {
		cpus, perr := strconv.ParseFloat(s, 64)
		if perr != nil || cpus < 0 || math.IsInf(cpus, 0) || math.IsNaN(cpus) {
			return flagError("cpus", s, fmt.Errorf("failed to parse %s as a rational number", s))
		}
		r.NanoCPUs = int64(math.Round(cpus * 1e9))
	}
	r.CPUShares = c.Int64("cpu-shares")
	r.CPUPeriod, r.CPUQuota = c.Int64("cpu-period"), c.Int64("cpu-quota")
	r.CpusetCpus = c.String("cpuset-cpus")
	r.CpusetMems = c.String("cpuset-mems")
	if c.IsSet("pids-limit") {
		v := c.Int64("pids-limit")
		r.PidsLimit = &v
	}
	for _, u := range c.StringSlice("ulimit") {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return flagError("ulimit", u, err)
		}
		r.Ulimits = append(r.Ulimits, &types.Ulimit{Name: ul.Name, Soft: ul.Soft, Hard: ul.Hard})
	}
	return nil
}

// parseHealth reads the --health-* flags into the image's healthcheck
// override (nil when none is given).
func parseHealth(c *cli.Context) (*types.HealthConfig, error) {
	set := false
	for _, f := range []string{"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period"} {
		set = set || c.IsSet(f)
	}
	if c.Bool("no-healthcheck") {
		if set {
			return nil, usagef("--no-healthcheck conflicts with --health-* options")
		}
		return &types.HealthConfig{Test: []string{types.HealthCmdNone}}, nil
	}
	if !set {
		return nil, nil
	}
	h := &types.HealthConfig{
		Interval:    c.Duration("health-interval"),
		Timeout:     c.Duration("health-timeout"),
		StartPeriod: c.Duration("health-start-period"),
		Retries:     c.Int("health-retries"),
	}
	for flag, d := range map[string]int64{"health-interval": int64(h.Interval), "health-timeout": int64(h.Timeout),
		"health-start-period": int64(h.StartPeriod), "health-retries": int64(h.Retries)} {
		if d < 0 {
			return nil, usagef("--%s cannot be negative", flag)
		}
	}
	if cmd := c.String("health-cmd"); cmd != "" {
		h.Test = []string{types.HealthCmdShell, cmd}
	}
	return h, nil
}

// parseRestart reads --restart: no, always, unless-stopped,
// on-failure[:max-retries].
func parseRestart(s string) (types.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := types.RestartPolicy{Name: name}
	switch name {
	case "", "no", "always", "unless-stopped":
		if hasCount {
			return p, usagef("invalid restart policy format: maximum retry count cannot be used with restart policy '%s'", name)
		}
	case "on-failure":
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return p, usagef("invalid restart policy format: maximum retry count must be a non-negative integer: %q", count)
			}
			p.MaximumRetryCount = n
		}
	default:
		return p, usagef("invalid restart policy '%s': want no, always, unless-stopped or on-failure[:max-retries]", s)
	}
	return p, nil
}

// parsePublish reads -p specs: [ip:][hostPort:]containerPort[/proto],
// where ports may be ranges (8000-8001:80-81) and an IPv6 ip is in
// brackets.
func parsePublish(specs []string) (types.PortSet, types.PortMap, error) {
	exposed := types.PortSet{}
	var bindings types.PortMap
	for _, spec := range specs {
		ports, err := parsePortSpec(spec)
		if err != nil {
			return nil, nil, flagError("publish", spec, err)
		}
		if bindings == nil {
			bindings = types.PortMap{}
		}
		for _, p := range ports {
			exposed[p.port] = struct{}{}
			bindings[p.port] = append(bindings[p.port], p.binding)
		}
	}
	return exposed, bindings, nil
}

type portBinding struct {
	port    string // "80/tcp"
	binding types.PortBinding
}

func parsePortSpec(spec string) ([]portBinding, error) {
	rest, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	var ip, hostPort, ctrPort string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return nil, fmt.Errorf("invalid IP address in port spec: %s", spec)
		}
		ip, rest = rest[1:end], rest[end+2:]
		hp, cp, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, fmt.Errorf("invalid port spec: %s", spec)
		}
		hostPort, ctrPort = hp, cp
	} else {
		parts := strings.Split(rest, ":")
		switch len(parts) {
		case 1:
			ctrPort = parts[0]
		case 2:
			hostPort, ctrPort = parts[0], parts[1]
		case 3:
			ip, hostPort, ctrPort = parts[0], parts[1], parts[2]
		default:
			return nil, fmt.Errorf("invalid port spec: too many colons")
		}
	}
	if ip != "" && net.ParseIP(ip) == nil {
		return nil, fmt.Errorf("invalid IP address: %s", ip)
	}
	if ctrPort == "" {
		return nil, fmt.Errorf("no port specified: %s<empty>", spec)
	}
	start, end, err := parsePortRange(ctrPort)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", ctrPort)
	}
	var hStart, hEnd int
	if hostPort != "" {
		if hStart, hEnd, err = parsePortRange(hostPort); err != nil {
			return nil, fmt.Errorf("invalid hostPort: %s", hostPort)
		}
	}
	// A host range for one container port is a range to pick a free
	// port from; otherwise the two ranges must be the same length.
	hostRangeForOne := hostPort != "" && start == end && hEnd != hStart
	if hostPort != "" && !hostRangeForOne && end-start != hEnd-hStart {
		return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctrPort, hostPort)
	}
	var out []portBinding
	for i := 0; i <= end-start; i++ {
		hp := ""
		switch {
		case hostRangeForOne:
			hp = hostPort
		case hostPort != "":
			hp = strconv.Itoa(hStart + i)
		}
		out = append(out, portBinding{
			port:    strconv.Itoa(start+i) + "/" + proto,
			binding: types.PortBinding{HostIP: ip, HostPort: hp},
		})
	}
	return out, nil
}

// parsePortRange reads "80" or "8000-8010" (1 to 65535).
func parsePortRange(s string) (start, end int, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if start, err = parsePort(lo); err != nil {
		return 0, 0, err
	}
	end = start
	if isRange {
		if end, err = parsePort(hi); err != nil {
			return 0, 0, err
		}
		if end < start {
			return 0, 0, fmt.Errorf("invalid range %s", s)
		}
	}
	return start, end, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return n, nil
}

// parseExpose adds --expose's ports (80, 80/udp, 8000-8010) to exposed.
func parseExpose(values []string, exposed types.PortSet) error {
	for _, v := range values {
		ports, proto, _ := strings.Cut(v, "/")
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return flagError("expose", v, fmt.Errorf("invalid proto: %s", proto))
		}
		start, end, err := parsePortRange(ports)
		if err != nil {
			return flagError("expose", v, fmt.Errorf("invalid range format for --expose: %w", err))
		}
		for p := start; p <= end; p++ {
			exposed[strconv.Itoa(p)+"/"+proto] = struct{}{}
		}
	}
	return nil
}

var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// volumeModes are the options -v accepts after the second colon.
var volumeModes = map[string]bool{
	"ro": true, "rw": true, "z": true, "Z": true, "nocopy": true,
	"consistent": true, "cached": true, "delegated": true,
	"private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true, "rslave": true,
}

// parseVolume reads one -v: "/ctr" (an anonymous volume, returned in
// anon), "/host:/ctr[:mode]" or "name:/ctr[:mode]" (returned as the Binds
// entry, a relative host path made absolute).
func parseVolume(spec string) (bind, anon string, err error) {
	parts := strings.Split(spec, ":")
	if len(parts) > 3 || spec == "" {
		return "", "", fmt.Errorf("invalid volume specification: '%s'", spec)
	}
	if len(parts) == 1 {
		if !path.IsAbs(spec) {
			return "", "", fmt.Errorf("invalid volume specification: '%s': mount path must be absolute", spec)
		}
		return "", spec, nil
	}
	src, dst := parts[0], parts[1]
	if src == "" {
		return "", "", fmt.Errorf("invalid volume specification: '%s': empty source", spec)
	}
	if !path.IsAbs(dst) {
		return "", "", fmt.Errorf("invalid volume specification: '%s': mount path must be absolute", spec)
	}
	if path.Clean(dst) == "/" {
		return "", "", fmt.Errorf("invalid volume specification: '%s': destination can't be '/'", spec)
	}
	if len(parts) == 3 {
		rw := 0
		for _, m := range strings.Split(parts[2], ",") {
			if !volumeModes[m] {
				return "", "", fmt.Errorf("invalid mode: %s", parts[2])
			}
			if m == "ro" || m == "rw" {
				rw++
			}
		}
		if rw > 1 {
			return "", "", fmt.Errorf("invalid mode: %s", parts[2])
		}
	}
	switch {
	case src == "." || strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") || src == "..":
		abs, err := filepath.Abs(src)
		if err != nil {
			return "", "", err
		}
		parts[0] = abs
	case strings.HasPrefix(src, "/"):
	case !volumeName.MatchString(src):
		return "", "", fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", src)
	}
	return strings.Join(parts, ":"), "", nil
}

// parseMount reads one --mount: comma-separated key=value fields (CSV,
// so a value may be quoted).
func parseMount(spec string) (types.Mount, error) {
	m := types.Mount{Type: "volume"}
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return m, err
	}
	boolValue := func(key, v string, hasValue bool) (bool, error) {
		if !hasValue {
			return true, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("invalid value for %s: %s", key, v)
		}
		return b, nil
	}
	var bindOpts, volumeOpts, tmpfsOpts []string
	bind := func() *types.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &types.BindOptions{}
		}
		return m.BindOptions
	}
	volume := func() *types.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &types.VolumeOptions{}
		}
		return m.VolumeOptions
	}
	tmpfs := func() *types.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &types.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	for _, f := range fields {
		key, value, hasValue := strings.Cut(f, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		switch key {
		case "readonly", "ro", "volume-nocopy", "bind-nonrecursive":
		default:
			if !hasValue {
				return m, fmt.Errorf("invalid field '%s' must be a key=value pair", f)
			}
		}
		switch key {
		case "type":
			m.Type = strings.ToLower(value)
		case "source", "src":
			m.Source = value
		case "target", "dst", "destination":
			m.Target = value
		case "readonly", "ro":
			if m.ReadOnly, err = boolValue(key, value, hasValue); err != nil {
				return m, err
			}
		case "consistency":
			m.Consistency = value
		case "bind-propagation":
			bindOpts = append(bindOpts, key)
			bind().Propagation = value
		case "bind-nonrecursive":
			bindOpts = append(bindOpts, key)
			if bind().NonRecursive, err = boolValue(key, value, hasValue); err != nil {
				return m, err
			}
		case "volume-nocopy":
			volumeOpts = append(volumeOpts, key)
			if volume().NoCopy, err = boolValue(key, value, hasValue); err != nil {
				return m, err
			}
		case "volume-label":
			volumeOpts = append(volumeOpts, key)
			k, v, _ := strings.Cut(value, "=")
			if volume().Labels == nil {
				volume().Labels = map[string]string{}
			}
			volume().Labels[k] = v
		case "volume-driver":
			volumeOpts = append(volumeOpts, key)
			if volume().DriverConfig == nil {
				volume().DriverConfig = &types.Driver{}
			}
			volume().DriverConfig.Name = value
		case "volume-opt":
			volumeOpts = append(volumeOpts, key)
			if volume().DriverConfig == nil {
				volume().DriverConfig = &types.Driver{}
			}
			if volume().DriverConfig.Options == nil {
				volume().DriverConfig.Options = map[string]string{}
			}
			k, v, _ := strings.Cut(value, "=")
			volume().DriverConfig.Options[k] = v
		case "tmpfs-size":
			tmpfsOpts = append(tmpfsOpts, key)
			if tmpfs().SizeBytes, err = units.RAMInBytes(value); err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, value)
			}
		case "tmpfs-mode":
			tmpfsOpts = append(tmpfsOpts, key)
			mode, err := strconv.ParseUint(value, 8, 32)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, value)
			}
			tmpfs().Mode = uint32(mode)
		default:
			return m, fmt.Errorf("unexpected key '%s' in '%s'", key, f)
		}
	}
	switch m.Type {
	case "bind", "volume", "tmpfs":
	default:
		return m, fmt.Errorf("invalid mount type '%s': want bind, volume or tmpfs", m.Type)
	}
	for kind, used := range map[string][]string{"bind": bindOpts, "volume": volumeOpts, "tmpfs": tmpfsOpts} {
		if len(used) > 0 && m.Type != kind {
			return m, fmt.Errorf("cannot mix '%s-*' options with mount type '%s'", kind, m.Type)
		}
	}
	if m.Target == "" {
		return m, fmt.Errorf("target is required")
	}
	if !path.IsAbs(m.Target) {
		return m, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", m.Target)
	}
	switch {
	case m.Type == "bind" && m.Source == "":
		return m, fmt.Errorf("source is required for a bind mount")
	case m.Type == "bind" && !path.IsAbs(m.Source):
		abs, err := filepath.Abs(m.Source)
		if err != nil {
			return m, err
		}
		m.Source = abs
	case m.Type == "tmpfs" && m.Source != "":
		return m, fmt.Errorf("source is not allowed for a tmpfs mount")
	}
	return m, nil
}

// parseEnv reads --env-file files, then -e values, as docker: "KEY=VALUE"
// as is, a bare "KEY" takes the value of the client's environment (and is
// passed as "KEY", unset, when there is none).
func parseEnv(files, values []string) ([]string, error) {
	var env []string
	for _, f := range files {
		lines, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		env = append(env, lines...)
	}
	for _, v := range values {
		e, err := envValue(v)
		if err != nil {
			return nil, flagError("env", v, err)
		}
		env = append(env, e)
	}
	return env, nil
}

func envValue(v string) (string, error) {
	k, _, hasValue := strings.Cut(v, "=")
	if k == "" {
		return "", fmt.Errorf("invalid environment variable: %s", v)
	}
	if hasValue {
		return v, nil
	}
	if val, ok := os.LookupEnv(k); ok {
		return k + "=" + val, nil
	}
	return k, nil
}

// readEnvFile reads an env file: one KEY=VALUE or KEY a line, blank lines
// and '#' comments skipped, the value taken as written (no quoting).
func readEnvFile(name string) ([]string, error) {
	lines, err := readLines(name)
	if err != nil {
		return nil, usagef("reading env file: %v", err)
	}
	var out []string
	for i, l := range lines {
		l = strings.TrimLeftFunc(l, unicode.IsSpace)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, _, _ := strings.Cut(l, "=")
		if strings.ContainsFunc(k, unicode.IsSpace) {
			return nil, usagef("%s:%d: variable '%s' contains whitespaces", name, i+1, k)
		}
		e, err := envValue(l)
		if err != nil {
			return nil, usagef("%s:%d: %v", name, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// parseLabels reads --label-file files, then -l values: "k=v", or "k"
// for an empty value.
func parseLabels(files, values []string) (map[string]string, error) {
	all := []string{}
	for _, f := range files {
		lines, err := readLines(f)
		if err != nil {
			return nil, usagef("reading label file: %v", err)
		}
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") {
				all = append(all, l)
			}
		}
	}
	all = append(all, values...)
	if len(all) == 0 {
		return nil, nil
	}
	labels := map[string]string{}
	for _, l := range all {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, flagError("label", l, fmt.Errorf("empty label key"))
		}
		labels[k] = v
	}
	return labels, nil
}

// parseKeyValues reads "k=v" flags (--sysctl, --log-opt) into a map.
func parseKeyValues(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, flagError(flag, kv, fmt.Errorf("want key=value"))
		}
		out[k] = v
	}
	return out, nil
}

// parseExtraHosts reads --add-host (run, create and build).
func parseExtraHosts(c *cli.Context) ([]string, error) {
	hosts := c.StringSlice("add-host")
	for _, h := range hosts {
		if err := validateExtraHost(h); err != nil {
			return nil, flagError("add-host", h, err)
		}
	}
	return hosts, nil
}

// parseShmSize reads --shm-size (run, create and build): 0 when unset.
func parseShmSize(c *cli.Context) (int64, error) {
	s := c.String("shm-size")
	if s == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil {
		return 0, flagError("shm-size", s, err)
	}
	return n, nil
}

// validateExtraHost checks --add-host's "host:ip" (ip may be IPv6, or
// "host-gateway").
func validateExtraHost(v string) error {
	host, ip, ok := strings.Cut(v, ":")
	if !ok || host == "" || ip == "" {
		return fmt.Errorf("bad format for add-host: %q", v)
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip != "host-gateway" && net.ParseIP(ip) == nil {
		return fmt.Errorf("invalid IP address in add-host: %q", ip)
	}
	return nil
}

// logTimeLayouts are the timestamps logs --since/--until take, as docker.
var logTimeLayouts = []string{
	time.RFC3339Nano, time.RFC3339,
	"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15", "2006-01-02",
}

var unixTime = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?$`)

// logTime turns --since/--until's value (a duration back from now, a
// timestamp, or unix seconds) into the unix seconds the API takes.
func logTime(flag, value string) (string, error) {
	return logTimeAt(flag, value, time.Now())
}

func logTimeAt(flag, value string, now time.Time) (string, error) {
	if value == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(value); err == nil && value != "0" {
		return strconv.FormatInt(now.Add(-d).Unix(), 10), nil
	}
	if unixTime.MatchString(value) {
		return value, nil
	}
	for _, layout := range logTimeLayouts {
		if t, err := time.ParseInLocation(layout, value, time.Local); err == nil {
			return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()), nil
		}
	}
	return "", usagef("invalid value for %q: failed to parse value as time or duration: %q", flag, value)
}
