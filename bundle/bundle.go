// Package bundle turns an image config plus Docker-style run options into
// the OCI runtime config (config.json) that xrt runs, following what Docker
// 20.10 generates for `docker run`. It also writes the small files a
// container gets from its manager: /etc/hosts and /etc/resolv.conf.
//
// Generate only computes: it reads the host (the rootfs's /etc/passwd and
// /etc/group, bind sources, /dev when privileged) but changes nothing.
package bundle

import (
	"errors"
	"fmt"
	"maps"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/specs"
)

// Mount is a volume, bind or tmpfs of `docker run -v/--mount/--tmpfs`.
type Mount struct {
	// Type is "bind", "volume" (already resolved to a host directory:
	// treated as a bind) or "tmpfs".
	Type string
	// Source is the host path of a bind or volume; ignored for tmpfs.
	Source string
	// Destination is the absolute path in the container.
	Destination string
	ReadOnly    bool
	// Options are extra options: for tmpfs "size=64m", "mode=1777",
	// "exec"...; for binds a propagation ("rprivate", "rshared"...),
	// "bind" (not recursive), "ro"/"rw"; "nocopy", "z" and "Z" are
	// accepted and ignored.
	Options []string
}

// Ulimit is one `--ulimit`: Name as Docker spells it ("nofile", "nproc").
// -1 is unlimited.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Options are the image config and the run options of one container.
type Options struct {
	ID string
	// Rootfs is the absolute path of the mounted root file system; users
	// and groups are looked up in its /etc/passwd and /etc/group.
	Rootfs string
	Image  ocispec.ImageConfig

	// Overrides from the run options (nil or "" takes the image's).

	// Entrypoint, when not nil, replaces the image's entrypoint and drops
	// the image's Cmd (Docker's rule); empty or []string{""} means none.
	Entrypoint []string
	// Cmd, when not nil, replaces the image's Cmd.
	Cmd []string
	// Env is merged over the image's env by key; "KEY" alone unsets KEY.
	Env        []string
	WorkingDir string
	// User is "uid", "name", "uid:gid" or "name:group", resolved in the
	// rootfs; GroupAdd adds supplementary groups (names or gids).
	User     string
	GroupAdd []string
	// Hostname defaults to the ID's first 12 characters. With
	// HostNetwork neither name is set in the config (the container keeps
	// the host's) and Hostname only feeds HOSTNAME.
	Hostname, Domainname string
	// Tty is process.terminal; OpenStdin changes nothing in the config
	// (keeping stdin open is the shim's business).
	Tty, OpenStdin bool

	Mounts                     []Mount
	ReadOnlyRootfs, Privileged bool
	// CapAdd and CapDrop take names with or without "CAP_", or "ALL".
	CapAdd, CapDrop []string
	// SecurityOpt: "no-new-privileges[:=true|false]", "seccomp=unconfined",
	// "seccomp=<path or JSON of a Docker profile>", "apparmor=<profile>",
	// "label=disable".
	SecurityOpt []string

	// Memory, MemoryReservation and MemorySwap are bytes; 0 is unset and
	// MemorySwap -1 is unlimited swap.
	Memory, MemoryReservation, MemorySwap int64
	// NanoCPUs is --cpus in billionths of a CPU.
	NanoCPUs  int64
	CPUShares int64
	// CPUPeriod and CPUQuota are --cpu-period and --cpu-quota (µs).
	CPUPeriod, CPUQuota    int64
	CpusetCpus, CpusetMems string
	// PidsLimit <= 0 is unlimited.
	PidsLimit   *int64
	Ulimits     []Ulimit
	OomScoreAdj int
	// ShmSize is the size of /dev/shm in bytes; 0 is 64 MiB.
	ShmSize int64
	Sysctls map[string]string

	// NetNSPath is a network namespace file to join. "" with HostNetwork
	// false is a new namespace with only lo ("--network none").
	NetNSPath string
	// HostNetwork shares the host's network namespace: no hostname is set.
	HostNetwork bool
	// Host files bound at /etc/hosts, /etc/hostname and /etc/resolv.conf
	// ("" binds nothing there).
	HostsPath, HostnamePath, ResolvConfPath string

	CgroupsPath string
	// Init runs the command under InitPath (a tini-like init, bound
	// read-only at /dev/init) as the container's pid 1.
	Init     bool
	InitPath string
	// Labels become annotations.
	Labels     map[string]string
	StopSignal string
}

// DefaultPath is the PATH a container gets when its image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// initPath is where the init binary appears in the container.
const initPath = "/dev/init"

// Generate returns the config.json for o. The result passes
// specs.Validate, so xrt accepts it.
func Generate(o Options) (*rspec.Spec, error) {
	if o.Rootfs == "" {
		return nil, errors.New("bundle: no rootfs given")
	}
	fi, err := os.Stat(o.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("bundle: rootfs: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("bundle: rootfs %s is not a directory", o.Rootfs)
	}

	s := &rspec.Spec{
		Version: rspec.Version,
		Root:    &rspec.Root{Path: o.Rootfs, Readonly: o.ReadOnlyRootfs},
		Linux:   &rspec.Linux{CgroupsPath: o.CgroupsPath},
	}
	if !o.HostNetwork {
		s.Hostname = hostname(o)
		s.Domainname = o.Domainname
	}
	steps := [...]func(*rspec.Spec, *Options) error{
		setProcess,      // args, env, cwd, user, rlimits
		setCapabilities, // needs the user (non-root) and feeds seccomp
		setSecurity,     // no-new-privileges, apparmor, seccomp
		setNamespaces,
		setMounts,
		setResources,
		setDevices,
		setSysctls,
	}
	for _, step := range steps {
		if err := step(s, &o); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	if len(o.Labels) > 0 {
		s.Annotations = maps.Clone(o.Labels)
	}
	if err := specs.Validate(s, ""); err != nil {
		return nil, fmt.Errorf("bundle: the generated config is invalid: %w", err)
	}
	return s, nil
}

// hostname is the container's host name: the one asked for, else the
// first 12 characters of the ID as Docker does, else the host's with host
// networking.
func hostname(o Options) string {
	if o.Hostname != "" {
		return o.Hostname
	}
	if o.HostNetwork {
		h, _ := os.Hostname()
		return h
	}
	if len(o.ID) > 12 {
		return o.ID[:12]
	}
	return o.ID
}
