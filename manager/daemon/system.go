package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// system answers /version and /info from facts gathered once at start
// plus live counts.
type system struct {
	cfg        *Config
	id         string
	driver     string
	kernel     string
	osName     string
	started    time.Time
	countImage func(ctx context.Context) int
}

func newSystem(cfg *Config, driver string, countImages func(context.Context) int) (*system, error) {
	id, err := engineID(filepath.Join(cfg.DataRoot, "engine-id"))
	if err != nil {
		return nil, err
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	return &system{
		cfg: cfg, id: id, driver: driver,
		kernel:     unix.ByteSliceToString(uts.Release[:]),
		osName:     osRelease(),
		started:    time.Now(),
		countImage: countImages,
	}, nil
}

// engineID is the daemon's stable ID (Info.ID), made once per data root.
func engineID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	h := hex.EncodeToString(r[:])
	id := fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, os.Rename(tmp, path)
}

// osRelease is PRETTY_NAME of /etc/os-release.
func osRelease() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "Linux"
}

func (s *system) SystemVersion(context.Context) types.Version {
	v := types.Version{
		Version: s.cfg.Version, APIVersion: types.APIVersion, MinAPIVersion: types.MinAPIVersion,
		GitCommit: s.cfg.Version, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH,
		KernelVersion: s.kernel, BuildTime: s.started.UTC().Format(time.RFC3339),
	}
	v.Platform.Name = "xmgr"
	v.Components = []types.ComponentVersion{{
		Name: "Engine", Version: s.cfg.Version,
		Details: map[string]string{
			"ApiVersion": types.APIVersion, "MinAPIVersion": types.MinAPIVersion,
			"GitCommit": s.cfg.Version, "GoVersion": runtime.Version(), "Os": runtime.GOOS,
			"Arch": runtime.GOARCH, "KernelVersion": s.kernel, "Experimental": "false",
			"BuildTime": v.BuildTime,
		},
	}}
	return v
}

func (s *system) SystemInfo(ctx context.Context) (*types.Info, error) {
	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	host, _ := os.Hostname()
	cgroupVersion := "1"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cgroupVersion = "2"
	}
	insecure := []string{"127.0.0.0/8"}
	indexes := map[string]*types.IndexInfo{
		"docker.io": {Name: "docker.io", Mirrors: []string{}, Secure: true, Official: true},
	}
	for _, r := range s.cfg.InsecureRegistries {
		indexes[r] = &types.IndexInfo{Name: r, Mirrors: []string{}, Secure: false}
	}
	cg := cgroupFacts()
	info := &types.Info{
		MemoryLimit: cg.memory, SwapLimit: cg.swap, OomKillDisable: cg.memory, KernelMemoryTCP: cg.kmemTCP,
		CPUCfsPeriod: cg.cfs, CPUCfsQuota: cg.cfs, CPUShares: cg.shares, CPUSet: cg.cpuset, PidsLimit: cg.pids,
		IPv4Forwarding:     readTrim("/proc/sys/net/ipv4/ip_forward") == "1",
		BridgeNfIptables:   readTrim("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
		BridgeNfIP6tables:  readTrim("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
		ID:                 s.id,
		Images:             s.countImage(ctx),
		Driver:             s.driver,
		DriverStatus:       [][2]string{{"Backing Filesystem", backingFS(s.cfg.DataRoot)}},
		Plugins:            types.PluginsInfo{Volume: []string{}, Network: []string{}, Log: []string{}},
		KernelVersion:      s.kernel,
		OperatingSystem:    s.osName,
		OSVersion:          "",
		OSType:             runtime.GOOS,
		Architecture:       unameMachine(),
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig: &types.ServiceConfig{
			InsecureRegistryCIDRs: insecure, IndexConfigs: indexes, Mirrors: []string{},
			AllowNondistributableArtifactsCIDRs:     []string{},
			AllowNondistributableArtifactsHostnames: []string{},
		},
		NCPU:            runtime.NumCPU(),
		MemTotal:        int64(si.Totalram) * int64(si.Unit),
		DockerRootDir:   s.cfg.DataRoot,
		Name:            host,
		Labels:          []string{},
		ServerVersion:   s.cfg.Version,
		LoggingDriver:   "json-file",
		CgroupDriver:    "cgroupfs",
		CgroupVersion:   cgroupVersion,
		Debug:           s.cfg.Debug,
		NGoroutines:     runtime.NumGoroutine(),
		NFd:             countFDs(),
		SystemTime:      time.Now().Format(time.RFC3339Nano),
		Runtimes:        map[string]types.Runtime{"xrt": {Path: "xrt"}, "runc": {Path: "runc"}},
		DefaultRuntime:  "xrt",
		Swarm:           types.SwarmInfo{LocalNodeState: "inactive"},
		Isolation:       "",
		InitBinary:      "",
		SecurityOptions: []string{"name=seccomp,profile=default"},
		Warnings:        []string{},
		HTTPProxy:       os.Getenv("HTTP_PROXY"),
		HTTPSProxy:      os.Getenv("HTTPS_PROXY"),
		NoProxy:         os.Getenv("NO_PROXY"),
	}
	return info, nil
}

func unameMachine() string {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(uts.Machine[:])
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// backingFS names the file system under dir, as docker info shows it.
func backingFS(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", st.Type)
}

// cgroupSupport is what the kernel's cgroups let containers limit, as
// docker info reports it (v1 controller files, or v2 controllers).
type cgroupSupport struct{ memory, swap, kmemTCP, cfs, shares, cpuset, pids bool }

func cgroupFacts() cgroupSupport {
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if ctrls := readTrim("/sys/fs/cgroup/cgroup.controllers"); ctrls != "" {
		has := func(c string) bool { return strings.Contains(" "+ctrls+" ", " "+c+" ") }
		return cgroupSupport{
			memory: has("memory"), swap: has("memory"), cfs: has("cpu"), shares: has("cpu"),
			cpuset: has("cpuset"), pids: has("pids"),
		}
	}
	return cgroupSupport{
		memory:  exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
		swap:    exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
		kmemTCP: exists("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes"),
		cfs:     exists("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
		shares:  exists("/sys/fs/cgroup/cpu/cpu.shares"),
		cpuset:  exists("/sys/fs/cgroup/cpuset/cpuset.cpus"),
		pids:    exists("/sys/fs/cgroup/pids/pids.max"),
	}
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
