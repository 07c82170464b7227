package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/specs"
)

// hierarchy is one cgroup v1 hierarchy of the host, as the init sees it.
type hierarchy struct {
	mountpoint  string // where the host mounts it: /sys/fs/cgroup/cpu,cpuacct
	source      string // the init's own cgroup directory under mountpoint
	controllers string // as /proc/self/cgroup names them: "cpu,cpuacct", "name=systemd"
}

// v1Flags are the flags of the tmpfs that holds the v1 hierarchies.
const v1Flags = unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV

// mountCgroup mounts the cgroup filesystem. On a cgroup v2 host (or for
// type cgroup2) that is one cgroup2 mount. On v1 it is a tmpfs holding one
// directory per host hierarchy, each a bind of the init's own cgroup there
// (or, with a cgroup namespace, a cgroup mount of that hierarchy).
func (s *setup) mountCgroup(m *rspec.Mount, source, dest string, o *specs.MountFlags) error {
	var st unix.Statfs_t
	unified := s.sys.Statfs(s.hostCgroup, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	if m.Type == "cgroup2" || unified {
		return s.mountCgroup2(source, dest, o, unified)
	}
	hs, err := s.hierarchies()
	if err != nil {
		return err
	}
	tmpfs := specs.MountFlags{Flags: v1Flags, Propagation: o.Propagation}
	if err := s.newFS("tmpfs", dest, "tmpfs", v1Flags, s.label("mode=755")); err != nil {
		return err
	}
	if err := s.after(dest, &tmpfs); err != nil {
		return err
	}
	sub := *o
	sub.Flags |= unix.MS_BIND | unix.MS_REC
	for _, h := range hs {
		name := filepath.Base(h.mountpoint)
		target := filepath.Join(dest, name)
		if s.cgroupns {
			err = s.newFS("cgroup", target, "cgroup", v1Flags|o.Flags&unix.MS_RDONLY, h.controllers)
		} else {
			err = s.bind(h.source, target, &sub)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", h.controllers, err)
		}
		// A combined hierarchy (cpu,cpuacct) is also found under each name.
		if strings.IndexByte(name, ',') < 0 {
			continue
		}
		for _, c := range strings.Split(name, ",") {
			if err := os.Symlink(name, filepath.Join(dest, c)); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
		}
	}
	if o.Flags&unix.MS_RDONLY != 0 {
		return remount(s.sys, dest, v1Flags|unix.MS_RDONLY)
	}
	return nil
}

// mountCgroup2 mounts cgroup2. Without a cgroup namespace of its own, a
// user namespace cannot (EPERM, or EBUSY when v1 holds the controllers):
// then the host's hierarchy is bound instead.
func (s *setup) mountCgroup2(source, dest string, o *specs.MountFlags, unified bool) error {
	err := s.newFS(source, dest, "cgroup2", o.Flags, o.DataString())
	if err == nil {
		return s.after(dest, o)
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EBUSY) {
		return err
	}
	host := s.hostCgroup
	if !unified {
		host += "/unified"
	}
	b := *o
	b.Flags |= unix.MS_BIND
	if berr := s.bind(host, dest, &b); berr != nil {
		return fmt.Errorf("%w; bind of %s instead: %w", err, host, berr)
	}
	return nil
}

// hierarchies reads the host's v1 hierarchies once per Prepare. The init
// must already be in the container's cgroups.
func (s *setup) hierarchies() ([]hierarchy, error) {
	if s.cgroupsRead {
		return s.cgroups, nil
	}
	own, err := s.sys.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	mounts, err := s.sys.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	s.cgroups, err = parseHierarchies(own, mounts)
	s.cgroupsRead = err == nil
	return s.cgroups, err
}

// parseHierarchies pairs the lines of /proc/self/cgroup with the host's
// cgroup v1 mounts in mountinfo, in mount order; a hierarchy the host does
// not mount is left out, as is the v2 line.
func parseHierarchies(ownCgroups, mounts []byte) ([]hierarchy, error) {
	type line struct {
		controllers string
		path        string
		used        bool
	}
	var lines []line
	for _, l := range strings.Split(string(ownCgroups), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		_, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok || ctrls == "" {
			continue
		}
		lines = append(lines, line{controllers: ctrls, path: path})
	}
	infos, err := mountinfo.GetMountsFromReader(bytes.NewReader(mounts), mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("/proc/self/mountinfo: %w", err)
	}
	var hs []hierarchy
	for _, mi := range infos {
		for i := range lines {
			l := &lines[i]
			if l.used || !hasAll(mi.VFSOptions, l.controllers) {
				continue
			}
			l.used = true
			rel, err := filepath.Rel(mi.Root, l.path)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, fmt.Errorf("cgroup %s of the init is outside the host's mount of %s at %s (root %s)", l.path, l.controllers, mi.Mountpoint, mi.Root)
			}
			hs = append(hs, hierarchy{
				mountpoint:  mi.Mountpoint,
				source:      filepath.Join(mi.Mountpoint, rel),
				controllers: l.controllers,
			})
			break
		}
	}
	return hs, nil
}

// hasAll reports whether the comma-separated list opts has every item of want.
func hasAll(opts, want string) bool {
	for w := range strings.SplitSeq(want, ",") {
		found := false
		for o := range strings.SplitSeq(opts, ",") {
			if o == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
