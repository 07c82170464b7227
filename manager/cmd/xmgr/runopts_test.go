package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// parseRun parses a `run` command line (after "run") as the CLI does.
func parseRun(t *testing.T, args ...string) (*createOptions, error) {
	t.Helper()
	var got *createOptions
	cmd := runCommand()
	cmd.Action = func(c *cli.Context) error {
		o, err := parseCreateOptions(c)
		got = o
		return err
	}
	app := &cli.App{Name: "xmgr", Commands: []*cli.Command{cmd}, DisableSliceFlagSeparator: true,
		UseShortOptionHandling: true, ExitErrHandler: func(*cli.Context, error) {}}
	for _, c := range app.Commands {
		setupCommand(c)
	}
	err := app.Run(append([]string{"xmgr", "run"}, args...))
	return got, err
}

func mustParse(t *testing.T, args ...string) *createOptions {
	t.Helper()
	o, err := parseRun(t, args...)
	if err != nil {
		t.Fatalf("run %q: %v", args, err)
	}
	return o
}

func ptr[T any](v T) *T { return &v }

func TestRunOptionsDefaults(t *testing.T) {
	o := mustParse(t, "busybox", "echo", "hi")
	cfg, hc := o.req.ContainerConfig, o.req.HostConfig
	if cfg.Image != "busybox" || !reflect.DeepEqual(cfg.Cmd, []string{"echo", "hi"}) {
		t.Errorf("image %q cmd %q", cfg.Image, cfg.Cmd)
	}
	if !cfg.AttachStdout || !cfg.AttachStderr || cfg.AttachStdin || cfg.OpenStdin || cfg.Tty {
		t.Errorf("attach defaults: %+v", cfg)
	}
	if hc.NetworkMode != "default" || hc.RestartPolicy.Name != "no" || hc.AutoRemove || hc.Init != nil || hc.PidsLimit != nil {
		t.Errorf("host config defaults: %+v", hc)
	}
	if o.pull != "missing" || cfg.Entrypoint != nil || cfg.StopTimeout != nil || cfg.Healthcheck != nil {
		t.Errorf("defaults: pull %q entrypoint %q", o.pull, cfg.Entrypoint)
	}
}

// TestRunOptionsEveryFlag sets each flag and checks where it lands in the
// request, as JSON (the wire form the daemon reads).
func TestRunOptionsEveryFlag(t *testing.T) {
	t.Setenv("XMGR_TEST_FROM_ENV", "fromenv")
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("# comment\n\nA=1\n  B=two words\nXMGR_TEST_FROM_ENV\n"), 0o644)
	labelFile := filepath.Join(dir, "labels")
	os.WriteFile(labelFile, []byte("# c\nfile=yes\n"), 0o644)

	tests := []struct {
		args []string
		want func(o *createOptions) any
		val  any
	}{
		{[]string{"--name", "web"}, func(o *createOptions) any { return o.name }, "web"},
		{[]string{"-i", "-t"}, func(o *createOptions) any {
			c := o.req.ContainerConfig
			return []bool{c.OpenStdin, c.Tty, c.AttachStdin}
		}, []bool{true, true, true}},
		{[]string{"-it"}, func(o *createOptions) any { return o.req.Tty && o.req.OpenStdin }, true},
		{[]string{"--rm"}, func(o *createOptions) any { return o.req.HostConfig.AutoRemove }, true},
		{[]string{"-e", "X=1", "-e", "XMGR_TEST_FROM_ENV", "-e", "XMGR_TEST_UNSET_VAR"}, func(o *createOptions) any { return o.req.Env },
			[]string{"X=1", "XMGR_TEST_FROM_ENV=fromenv", "XMGR_TEST_UNSET_VAR"}},
		{[]string{"--env-file", envFile, "-e", "C=3"}, func(o *createOptions) any { return o.req.Env },
			[]string{"A=1", "B=two words", "XMGR_TEST_FROM_ENV=fromenv", "C=3"}},
		{[]string{"-w", "/srv"}, func(o *createOptions) any { return o.req.WorkingDir }, "/srv"},
		{[]string{"-u", "1000:1000"}, func(o *createOptions) any { return o.req.User }, "1000:1000"},
		{[]string{"--entrypoint", "/bin/sh"}, func(o *createOptions) any { return o.req.Entrypoint }, []string{"/bin/sh"}},
		{[]string{"--entrypoint", ""}, func(o *createOptions) any { return o.req.Entrypoint }, []string{""}},
		{[]string{"-p", "8080:80", "-p", "127.0.0.1::53/udp"}, func(o *createOptions) any { return o.req.HostConfig.PortBindings },
			types.PortMap{"80/tcp": {{HostPort: "8080"}}, "53/udp": {{HostIP: "127.0.0.1"}}}},
		{[]string{"-P", "--expose", "9000-9001"}, func(o *createOptions) any {
			return []any{o.req.HostConfig.PublishAllPorts, o.req.ExposedPorts}
		}, []any{true, map[string]struct{}{"9000/tcp": {}, "9001/tcp": {}}}},
		{[]string{"-v", "/data", "-v", "/h:/c:ro", "-v", "vol:/v"}, func(o *createOptions) any {
			return []any{o.req.Volumes, o.req.HostConfig.Binds}
		}, []any{map[string]struct{}{"/data": {}}, []string{"/h:/c:ro", "vol:/v"}}},
		{[]string{"--mount", "type=tmpfs,dst=/t,tmpfs-size=64m"}, func(o *createOptions) any { return o.req.HostConfig.Mounts },
			[]types.Mount{{Type: "tmpfs", Target: "/t", TmpfsOptions: &types.TmpfsOptions{SizeBytes: 64 << 20}}}},
		{[]string{"--tmpfs", "/run:rw,size=1m", "--tmpfs", "/tmp"}, func(o *createOptions) any { return o.req.HostConfig.Tmpfs },
			map[string]string{"/run": "rw,size=1m", "/tmp": ""}},
		{[]string{"--net", "mynet", "--network-alias", "db"}, func(o *createOptions) any {
			return []any{o.req.HostConfig.NetworkMode, o.req.NetworkingConfig.EndpointsConfig["mynet"].Aliases}
		}, []any{"mynet", []string{"db"}}},
		{[]string{"--network", "none"}, func(o *createOptions) any { return o.req.HostConfig.NetworkMode }, "none"},
		{[]string{"-h", "box", "--domainname", "example.org"}, func(o *createOptions) any { return o.req.Hostname + "." + o.req.Domainname }, "box.example.org"},
		{[]string{"--dns", "1.1.1.1", "--dns-search", "x.org", "--dns-opt", "ndots:2"}, func(o *createOptions) any {
			h := o.req.HostConfig
			return [][]string{h.DNS, h.DNSSearch, h.DNSOptions}
		}, [][]string{{"1.1.1.1"}, {"x.org"}, {"ndots:2"}}},
		{[]string{"--add-host", "db:10.0.0.2", "--add-host", "gw:host-gateway", "--add-host", "v6:::1"}, func(o *createOptions) any { return o.req.HostConfig.ExtraHosts },
			[]string{"db:10.0.0.2", "gw:host-gateway", "v6:::1"}},
		{[]string{"-m", "512m", "--memory-swap", "1g", "--memory-reservation", "256m"}, func(o *createOptions) any {
			r := o.req.HostConfig.Resources
			return []int64{r.Memory, r.MemorySwap, r.MemoryReservation}
		}, []int64{512 << 20, 1 << 30, 256 << 20}},
		{[]string{"--memory-swap", "-1"}, func(o *createOptions) any { return o.req.HostConfig.MemorySwap }, int64(-1)},
		{[]string{"--cpus", "1.5", "-c", "512", "--cpuset-cpus", "0-1", "--cpuset-mems", "0"}, func(o *createOptions) any {
			r := o.req.HostConfig.Resources
			return []any{r.NanoCPUs, r.CPUShares, r.CpusetCpus, r.CpusetMems}
		}, []any{int64(1500000000), int64(512), "0-1", "0"}},
		{[]string{"--pids-limit", "100"}, func(o *createOptions) any { return o.req.HostConfig.PidsLimit }, ptr(int64(100))},
		{[]string{"--ulimit", "nofile=1024:2048"}, func(o *createOptions) any { return o.req.HostConfig.Ulimits },
			[]*types.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}},
		{[]string{"--restart", "on-failure:3"}, func(o *createOptions) any { return o.req.HostConfig.RestartPolicy },
			types.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}},
		{[]string{"--restart", "unless-stopped"}, func(o *createOptions) any { return o.req.HostConfig.RestartPolicy.Name }, "unless-stopped"},
		{[]string{"--read-only", "--privileged", "--init"}, func(o *createOptions) any {
			h := o.req.HostConfig
			return []any{h.ReadonlyRootfs, h.Privileged, h.Init}
		}, []any{true, true, ptr(true)}},
		{[]string{"--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--group-add", "audio"}, func(o *createOptions) any {
			h := o.req.HostConfig
			return [][]string{h.CapAdd, h.CapDrop, h.SecurityOpt, h.GroupAdd}
		}, [][]string{{"NET_ADMIN"}, {"ALL"}, {"no-new-privileges"}, {"audio"}}},
		{[]string{"--health-cmd", "true", "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "1s"},
			func(o *createOptions) any { return o.req.Healthcheck },
			&types.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 3, StartPeriod: time.Second}},
		{[]string{"--no-healthcheck"}, func(o *createOptions) any { return o.req.Healthcheck }, &types.HealthConfig{Test: []string{"NONE"}}},
		{[]string{"--stop-signal", "SIGINT", "--stop-timeout", "3"}, func(o *createOptions) any {
			return []any{o.req.StopSignal, o.req.StopTimeout}
		}, []any{"SIGINT", ptr(3)}},
		{[]string{"-l", "a=1", "-l", "b", "--label-file", labelFile}, func(o *createOptions) any { return o.req.Labels },
			map[string]string{"a": "1", "b": "", "file": "yes"}},
		{[]string{"--sysctl", "net.ipv4.ip_forward=1"}, func(o *createOptions) any { return o.req.HostConfig.Sysctls },
			map[string]string{"net.ipv4.ip_forward": "1"}},
		{[]string{"--shm-size", "128m", "--oom-score-adj", "-500"}, func(o *createOptions) any {
			return []any{o.req.HostConfig.ShmSize, o.req.HostConfig.OomScoreAdj}
		}, []any{int64(128 << 20), -500}},
		{[]string{"--log-opt", "max-size=10m", "--log-opt", "max-file=3"}, func(o *createOptions) any { return o.req.HostConfig.LogConfig },
			types.LogConfig{Config: map[string]string{"max-size": "10m", "max-file": "3"}}},
		{[]string{"--pull", "never", "--platform", "linux/amd64", "--cidfile", "/tmp/x.cid"}, func(o *createOptions) any {
			return []string{o.pull, o.platform, o.cidfile}
		}, []string{"never", "linux/amd64", "/tmp/x.cid"}},
		{[]string{"-a", "stdout", "-a", "STDERR"}, func(o *createOptions) any {
			c := o.req.ContainerConfig
			return []bool{c.AttachStdin, c.AttachStdout, c.AttachStderr}
		}, []bool{false, true, true}},
		{[]string{"-a", "stdin"}, func(o *createOptions) any {
			c := o.req.ContainerConfig
			return []bool{c.AttachStdin, c.AttachStdout, c.AttachStderr}
		}, []bool{true, false, false}},
		{[]string{"--volumes-from", "other:ro", "--runtime", "runc"}, func(o *createOptions) any {
			return []any{o.req.HostConfig.VolumesFrom, o.req.HostConfig.Runtime}
		}, []any{[]string{"other:ro"}, "runc"}},
	}
	for _, tt := range tests {
		o, err := parseRun(t, append(tt.args, "busybox")...)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		got, _ := json.Marshal(tt.want(o))
		want, _ := json.Marshal(tt.val)
		if string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", tt.args, got, want)
		}
	}
}

func TestRunOptionsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // part of the message
	}{
		{[]string{"-m", "lots", "busybox"}, `invalid argument "lots" for "--memory" flag`},
		{[]string{"--memory-swap", "x", "busybox"}, `"--memory-swap" flag`},
		{[]string{"--shm-size", "1q", "busybox"}, `"--shm-size" flag`},
		{[]string{"--cpus", "many", "busybox"}, `invalid argument "many" for "--cpus" flag`},
		{[]string{"-c", "x", "busybox"}, `-c`},
		{[]string{"--pids-limit", "x", "busybox"}, `pids-limit`},
		{[]string{"-p", "80:80/icmp", "busybox"}, `invalid proto: icmp`},
		{[]string{"-p", "x:80", "busybox"}, `invalid hostPort: x`},
		{[]string{"-p", "80:70000", "busybox"}, `invalid containerPort: 70000`},
		{[]string{"-p", "8000-8002:80-81", "busybox"}, `invalid ranges`},
		{[]string{"-p", "1.2.3:80:80", "busybox"}, `invalid IP address`},
		{[]string{"-p", "1:2:3:4", "busybox"}, `"--publish" flag`},
		{[]string{"--expose", "http", "busybox"}, `"--expose" flag`},
		{[]string{"-v", "data", "busybox"}, `"--volume" flag`},
		{[]string{"-v", "/a:b", "busybox"}, `mount path must be absolute`},
		{[]string{"-v", "/a:/b:rx", "busybox"}, `invalid mode: rx`},
		{[]string{"-v", "/a:/b:ro,rw", "busybox"}, `invalid mode`},
		{[]string{"-v", "/a:/", "busybox"}, `destination can't be '/'`},
		{[]string{"-v", "bad name:/x", "busybox"}, `invalid characters for a local volume name`},
		{[]string{"--mount", "type=nfs,dst=/x", "busybox"}, `invalid mount type 'nfs'`},
		{[]string{"--mount", "type=bind,dst=/x", "busybox"}, `source is required`},
		{[]string{"--mount", "type=volume,src=v", "busybox"}, `target is required`},
		{[]string{"--mount", "type=bind,src=/a,dst=/b,tmpfs-size=1m", "busybox"}, `cannot mix 'tmpfs-*' options with mount type 'bind'`},
		{[]string{"--mount", "type=tmpfs,dst=/t,tmpfs-mode=9", "busybox"}, `invalid value for tmpfs-mode`},
		{[]string{"--mount", "type=bind,src=/a,dst=/b,colour=red", "busybox"}, `unexpected key 'colour'`},
		{[]string{"--mount", "dst", "busybox"}, `must be a key=value pair`},
		{[]string{"--tmpfs", "run", "busybox"}, `"--tmpfs" flag`},
		{[]string{"--restart", "sometimes", "busybox"}, `invalid restart policy 'sometimes'`},
		{[]string{"--restart", "always:3", "busybox"}, `maximum retry count cannot be used with restart policy 'always'`},
		{[]string{"--restart", "on-failure:x", "busybox"}, `maximum retry count must be a non-negative integer`},
		{[]string{"--restart", "always", "--rm", "busybox"}, `cannot specify both --restart and --rm`},
		{[]string{"--ulimit", "nofile", "busybox"}, `"--ulimit" flag`},
		{[]string{"--dns", "resolver", "busybox"}, `resolver is not an ip address`},
		{[]string{"--add-host", "db", "busybox"}, `bad format for add-host`},
		{[]string{"--add-host", "db:ten", "busybox"}, `invalid IP address in add-host`},
		{[]string{"--oom-score-adj", "2000", "busybox"}, `oom-score-adj`},
		{[]string{"--sysctl", "kernel.x", "busybox"}, `"--sysctl" flag`},
		{[]string{"--log-opt", "max-size", "busybox"}, `"--log-opt" flag`},
		{[]string{"--pull", "sometimes", "busybox"}, `invalid pull option: 'sometimes'`},
		{[]string{"-a", "stdlog", "busybox"}, `valid streams are STDIN, STDOUT and STDERR`},
		{[]string{"-w", "srv", "busybox"}, `needs to be an absolute path`},
		{[]string{"-e", "=x", "busybox"}, `invalid environment variable: =x`},
		{[]string{"--env-file", "/nonexistent/xmgr-env", "busybox"}, `reading env file`},
		{[]string{"--health-interval", "-1s", "busybox"}, `--health-interval cannot be negative`},
		{[]string{"--health-retries", "-1", "busybox"}, `--health-retries cannot be negative`},
		{[]string{"--health-cmd", "true", "--no-healthcheck", "busybox"}, `--no-healthcheck conflicts with --health-* options`},
		{[]string{"--health-interval", "often", "busybox"}, `health-interval`},
		{[]string{"-l", "=x", "busybox"}, `"--label" flag`},
		{nil, `"run" requires at least 1 argument`},
	}
	for _, tt := range tests {
		_, err := parseRun(t, tt.args...)
		if err == nil {
			t.Errorf("%q: no error, want %q", tt.args, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %q, want it to contain %q", tt.args, err, tt.want)
		}
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v is not a usage error (exit code 125)", tt.args, err)
		}
	}
}

func TestParsePortSpec(t *testing.T) {
	tests := []struct {
		spec string
		want []portBinding
	}{
		{"80", []portBinding{{"80/tcp", types.PortBinding{}}}},
		{"3000:3000", []portBinding{{"3000/tcp", types.PortBinding{HostPort: "3000"}}}},
		{"53:53/udp", []portBinding{{"53/udp", types.PortBinding{HostPort: "53"}}}},
		{"127.0.0.1:8080:80", []portBinding{{"80/tcp", types.PortBinding{HostIP: "127.0.0.1", HostPort: "8080"}}}},
		{"127.0.0.1::80", []portBinding{{"80/tcp", types.PortBinding{HostIP: "127.0.0.1"}}}},
		{"[::1]:8080:80", []portBinding{{"80/tcp", types.PortBinding{HostIP: "::1", HostPort: "8080"}}}},
		{"8000-8001:80-81", []portBinding{{"80/tcp", types.PortBinding{HostPort: "8000"}}, {"81/tcp", types.PortBinding{HostPort: "8001"}}}},
		{"8000-8010:80", []portBinding{{"80/tcp", types.PortBinding{HostPort: "8000-8010"}}}},
		{"80-81", []portBinding{{"80/tcp", types.PortBinding{}}, {"81/tcp", types.PortBinding{}}}},
		{"9000/sctp", []portBinding{{"9000/sctp", types.PortBinding{}}}},
		{":80", []portBinding{{"80/tcp", types.PortBinding{}}}},
	}
	for _, tt := range tests {
		got, err := parsePortSpec(tt.spec)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.spec, got, tt.want)
		}
	}
	for _, bad := range []string{"", "0", "65536", "a", "80-", "81-80", "[::1:80:80", "80/", "80/tcp/udp"} {
		if got, err := parsePortSpec(bad); err == nil {
			t.Errorf("%q: no error, got %+v", bad, got)
		}
	}
}

func TestParseVolume(t *testing.T) {
	wd, _ := os.Getwd()
	tests := []struct{ spec, bind, anon string }{
		{"/data", "", "/data"},
		{"/h:/c", "/h:/c", ""},
		{"/h:/c:ro", "/h:/c:ro", ""},
		{"/h:/c:rw,z", "/h:/c:rw,z", ""},
		{"vol:/c", "vol:/c", ""},
		{"vol:/c:ro,nocopy", "vol:/c:ro,nocopy", ""},
		{"./rel:/c", wd + "/rel:/c", ""},
		{".:/c:ro", wd + ":/c:ro", ""},
	}
	for _, tt := range tests {
		bind, anon, err := parseVolume(tt.spec)
		if err != nil || bind != tt.bind || anon != tt.anon {
			t.Errorf("%s: got %q %q %v, want %q %q", tt.spec, bind, anon, err, tt.bind, tt.anon)
		}
	}
	for _, bad := range []string{"", "rel", ":/c", "/a:/b:/c:ro", "/h:c", "v:/c:xx", "v!:/c", "a:/"} {
		if b, a, err := parseVolume(bad); err == nil {
			t.Errorf("%q: no error, got %q %q", bad, b, a)
		}
	}
}

func TestParseMount(t *testing.T) {
	wd, _ := os.Getwd()
	tests := []struct {
		spec string
		want types.Mount
	}{
		{"type=bind,source=/h,target=/c,readonly", types.Mount{Type: "bind", Source: "/h", Target: "/c", ReadOnly: true}},
		{"type=bind,src=rel,dst=/c,ro=false,bind-propagation=rshared",
			types.Mount{Type: "bind", Source: wd + "/rel", Target: "/c", BindOptions: &types.BindOptions{Propagation: "rshared"}}},
		{"src=v,destination=/c,volume-nocopy", types.Mount{Type: "volume", Source: "v", Target: "/c", VolumeOptions: &types.VolumeOptions{NoCopy: true}}},
		{"type=volume,dst=/anon", types.Mount{Type: "volume", Target: "/anon"}},
		{`type=volume,src=v,dst=/c,volume-label=a=b,"volume-opt=o=x,y"`, types.Mount{Type: "volume", Source: "v", Target: "/c",
			VolumeOptions: &types.VolumeOptions{Labels: map[string]string{"a": "b"}, DriverConfig: &types.Driver{Options: map[string]string{"o": "x,y"}}}}},
		{"type=tmpfs,dst=/t,tmpfs-size=1g,tmpfs-mode=1777", types.Mount{Type: "tmpfs", Target: "/t",
			TmpfsOptions: &types.TmpfsOptions{SizeBytes: 1 << 30, Mode: 0o1777}}},
	}
	for _, tt := range tests {
		got, err := parseMount(tt.spec)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.spec, got, tt.want)
		}
	}
	if _, err := parseMount("type=tmpfs,src=x,dst=/t"); err == nil {
		t.Error("a tmpfs with a source: no error")
	}
}

func TestReadEnvFile(t *testing.T) {
	t.Setenv("XMGR_TEST_HOME", "/home/x")
	f := filepath.Join(t.TempDir(), "env")
	os.WriteFile(f, []byte("# a comment\n\n  KEY=value with spaces\nQUOTED=\"kept\"\nEMPTY=\nXMGR_TEST_HOME\nXMGR_TEST_NOT_SET_ANYWHERE\n"), 0o644)
	got, err := readEnvFile(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"KEY=value with spaces", `QUOTED="kept"`, "EMPTY=", "XMGR_TEST_HOME=/home/x", "XMGR_TEST_NOT_SET_ANYWHERE"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("OK=1\nBAD KEY=1\n"), 0o644)
	if _, err := readEnvFile(bad); err == nil || !strings.Contains(err.Error(), "bad:2: variable 'BAD KEY' contains whitespaces") {
		t.Fatalf("got %v, want a whitespace error naming line 2", err)
	}
}

func TestLogTime(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct{ in, want string }{
		{"", ""},
		{"10m", "1714564200"},
		{"1714564200", "1714564200"},
		{"1714564200.5", "1714564200.5"},
		{"2024-05-01T11:00:00Z", "1714561200.000000000"},
		{"2024-05-01T11:00:00.25+00:00", "1714561200.250000000"},
	}
	for _, tt := range tests {
		got, err := logTimeAt("since", tt.in, now)
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q %v, want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := logTimeAt("until", "yesterday", now); err == nil || !strings.Contains(err.Error(), `"until"`) {
		t.Errorf("got %v, want an error naming until", err)
	}
}
