package bundle

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultShmSize is /dev/shm's size when none is given, as Docker's.
const defaultShmSize = 64 << 20

// defaultMounts are Docker's: the kernel file systems every container has.
func defaultMounts(shmSize int64) []rspec.Mount {
	if shmSize <= 0 {
		shmSize = defaultShmSize
	}
	return []rspec.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shmSize, 10)}},
	}
}

// setMounts lays out the mounts as Docker does: the defaults a user mount
// does not replace, then the network files and the user's mounts sorted
// parents first, then the init binary.
func setMounts(s *rspec.Spec, o *Options) error {
	if o.ShmSize < 0 {
		return fmt.Errorf("shm size %d: must not be negative", o.ShmSize)
	}
	user, err := userMounts(o)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, m := range user {
		taken[m.Destination] = true
	}
	files := []struct{ dest, source string }{
		{"/etc/resolv.conf", o.ResolvConfPath},
		{"/etc/hostname", o.HostnamePath},
		{"/etc/hosts", o.HostsPath},
	}
	for _, f := range files {
		if f.source == "" || taken[f.dest] {
			continue
		}
		if err := checkSource(f.source); err != nil {
			return fmt.Errorf("%s: %w", f.dest, err)
		}
		opts := []string{"rbind"}
		if o.ReadOnlyRootfs {
			opts = append(opts, "ro")
		}
		user = append(user, rspec.Mount{Destination: f.dest, Type: "bind", Source: f.source,
			Options: append(opts, "rprivate")})
		taken[f.dest] = true
	}
	// Parents first, so that a mount is not hidden by one made after it.
	sort.SliceStable(user, func(i, j int) bool { return depth(user[i].Destination) < depth(user[j].Destination) })

	var mounts []rspec.Mount
	for _, m := range defaultMounts(o.ShmSize) {
		if taken[m.Destination] || (taken["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		switch {
		case o.Privileged && (m.Type == "sysfs" || m.Type == "cgroup"):
			m.Options = slices.DeleteFunc(m.Options, func(opt string) bool { return opt == "ro" })
		case o.ReadOnlyRootfs && !writableWithReadOnlyRoot(m.Destination) && !slices.Contains(m.Options, "ro"):
			m.Options = append(m.Options, "ro")
		}
		mounts = append(mounts, m)
	}
	mounts = append(mounts, user...)
	if o.Init {
		if err := checkSource(o.InitPath); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		mounts = append(mounts, rspec.Mount{Destination: initPath, Type: "bind", Source: o.InitPath,
			Options: []string{"bind", "ro"}})
	}
	s.Mounts = mounts
	s.Linux.RootfsPropagation = rootPropagation(user)
	return nil
}

// rootPropagation is Docker's: a shared bind needs a shared root and a
// slave bind at least an rslave one, so that mount events can reach it.
func rootPropagation(mounts []rspec.Mount) string {
	root := ""
	for _, m := range mounts {
		for _, opt := range m.Options {
			switch opt {
			case "shared", "rshared":
				root = "shared"
			case "slave", "rslave":
				if root == "" {
					root = "rslave"
				}
			}
		}
	}
	return root
}

// writableWithReadOnlyRoot are the defaults that stay writable with
// --read-only, as in Docker.
func writableWithReadOnlyRoot(dest string) bool {
	switch dest {
	case "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue":
		return true
	}
	return false
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// userMounts converts the run's mounts, in order, checking each.
func userMounts(o *Options) ([]rspec.Mount, error) {
	var out []rspec.Mount
	seen := map[string]bool{}
	for i, m := range o.Mounts {
		if !path.IsAbs(m.Destination) {
			return nil, fmt.Errorf("mount %d: destination %q must be an absolute path", i, m.Destination)
		}
		dest := path.Clean(m.Destination)
		if dest == "/" {
			return nil, fmt.Errorf("mount %d: destination can't be /", i)
		}
		if seen[dest] {
			return nil, fmt.Errorf("mount %d: duplicate mount point %s", i, dest)
		}
		seen[dest] = true
		var (
			sm  rspec.Mount
			err error
		)
		switch m.Type {
		case "bind", "volume":
			sm, err = bindMount(m, dest)
		case "tmpfs":
			sm, err = tmpfsMount(m, dest)
		default:
			err = fmt.Errorf("type %q: want bind, volume or tmpfs", m.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", dest, err)
		}
		out = append(out, sm)
	}
	return out, nil
}

var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

// bindMount is "rbind" (or "bind"), "ro" when read-only, and a propagation
// (rprivate unless given).
func bindMount(m Mount, dest string) (rspec.Mount, error) {
	if err := checkSource(m.Source); err != nil {
		return rspec.Mount{}, err
	}
	mode, ro, propagation := "rbind", m.ReadOnly, "rprivate"
	for _, opt := range m.Options {
		switch {
		case opt == "bind" || opt == "rbind":
			mode = opt
		case opt == "ro" || opt == "readonly":
			ro = true
		case opt == "rw":
			ro = false
		case slices.Contains(propagations, opt):
			propagation = opt
		case opt == "nocopy" || opt == "z" || opt == "Z" || opt == "":
			// nocopy is the volume driver's business; there is no SELinux
			// labelling here.
		default:
			return rspec.Mount{}, fmt.Errorf("unknown bind option %q", opt)
		}
	}
	opts := []string{mode}
	if ro {
		opts = append(opts, "ro")
	}
	opts = append(opts, propagation)
	return rspec.Mount{Destination: dest, Type: "bind", Source: path.Clean(m.Source), Options: opts}, nil
}

// checkSource makes sure a bind source exists: creating it is the
// caller's choice (Docker does for -v, not for --mount).
func checkSource(src string) error {
	if !path.IsAbs(src) {
		return fmt.Errorf("source %q must be an absolute path", src)
	}
	if _, err := os.Stat(src); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("bind source path does not exist: %s", src)
		}
		return fmt.Errorf("bind source: %w", err)
	}
	return nil
}

// tmpfsMount is Docker's --tmpfs: noexec, nosuid, nodev and rprivate unless
// the options say otherwise, a later option winning over an earlier one.
func tmpfsMount(m Mount, dest string) (rspec.Mount, error) {
	opts := []string{"noexec", "nosuid", "nodev", "rprivate"}
	opts = append(opts, m.Options...)
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	merged, err := mergeTmpfsOptions(opts)
	if err != nil {
		return rspec.Mount{}, err
	}
	return rspec.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: merged}, nil
}

// tmpfsFlags maps each flag option to what it collides with: an option and
// its opposite share a key, and all propagations share one.
var tmpfsFlags = map[string]string{
	"ro": "ro", "rw": "ro", "exec": "exec", "noexec": "exec", "suid": "suid", "nosuid": "suid",
	"dev": "dev", "nodev": "dev", "sync": "sync", "async": "sync", "atime": "atime", "noatime": "atime",
	"diratime": "diratime", "nodiratime": "diratime", "relatime": "relatime", "norelatime": "relatime",
	"strictatime": "strictatime", "nostrictatime": "strictatime", "dirsync": "dirsync",
	"mand": "mand", "nomand": "mand",
	"private": "propagation", "rprivate": "propagation", "shared": "propagation",
	"rshared": "propagation", "slave": "propagation", "rslave": "propagation",
}

// tmpfsData are the key=value options tmpfs takes.
var tmpfsData = map[string]bool{"size": true, "mode": true, "uid": true, "gid": true,
	"nr_inodes": true, "nr_blocks": true, "mpol": true, "huge": true}

// mergeTmpfsOptions keeps the last of each colliding option, in the order
// the kept ones were given.
func mergeTmpfsOptions(opts []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for i := len(opts) - 1; i >= 0; i-- {
		opt := opts[i]
		if opt == "defaults" || opt == "" {
			continue
		}
		key, ok := tmpfsFlags[opt]
		if !ok {
			k, v, isData := strings.Cut(opt, "=")
			if !isData || !tmpfsData[k] {
				return nil, fmt.Errorf("invalid tmpfs option %q", opt)
			}
			if k == "mode" {
				if _, err := strconv.ParseUint(v, 8, 32); err != nil {
					return nil, fmt.Errorf("invalid tmpfs option %q: mode must be octal", opt)
				}
			}
			key = "=" + k
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, opt)
	}
	slices.Reverse(out)
	return out, nil
}
