package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux/label"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/specs"
)

// mount mounts one entry of config.json mounts inside the rootfs.
func (s *setup) mount(m *rspec.Mount) error {
	o := specs.ParseMountOptions(m.Options)
	if o.IDMap || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return errors.New("idmapped mounts are not supported")
	}
	if o.TmpCopyUp {
		return errors.New("tmpcopyup is not supported")
	}
	dest, err := s.resolve(m.Destination)
	if err != nil {
		return err
	}
	if m.Type == "bind" {
		o.Flags |= unix.MS_BIND
	}
	if o.IsBind() {
		source := s.source(m.Source)
		if err := s.checkProc(dest, "bind", source); err != nil {
			return err
		}
		return s.bind(source, dest, &o)
	}
	if err := s.checkProc(dest, m.Type, ""); err != nil {
		return err
	}
	source := m.Source
	if source == "" {
		source = m.Type
	}
	switch m.Type {
	case "proc":
		// No SELinux label: procfs takes none.
		if err := s.newFS(source, dest, "proc", o.Flags, o.DataString()); err != nil {
			return err
		}
		return s.after(dest, &o)
	case "sysfs":
		// sysfs belongs to the network namespace: a user namespace that
		// does not own one cannot mount it, so bind the host's /sys.
		if s.userns && !s.newNet {
			return s.bindSys(dest, &o)
		}
		err := s.newFS(source, dest, "sysfs", o.Flags, o.DataString())
		if errors.Is(err, unix.EPERM) {
			return s.bindSys(dest, &o)
		}
		if err != nil {
			return err
		}
		return s.after(dest, &o)
	case "mqueue":
		err := s.newFS(source, dest, "mqueue", o.Flags, o.DataString())
		if errors.Is(err, unix.EPERM) {
			// A user namespace that does not own the IPC namespace.
			b := o
			b.Flags |= unix.MS_BIND
			if berr := s.bind(s.hostMqueue, dest, &b); berr != nil {
				return fmt.Errorf("%w; bind of %s instead: %w", err, s.hostMqueue, berr)
			}
			return nil
		}
		if err != nil {
			return err
		}
		return s.after(dest, &o)
	case "cgroup", "cgroup2":
		return s.mountCgroup(m, source, dest, &o)
	default:
		flags := o.Flags
		if cleanDest(m.Destination) == "/dev" {
			// The devices are made in it: Finish makes it read-only.
			flags &^= unix.MS_RDONLY
		}
		if err := s.newFS(source, dest, m.Type, flags, s.label(o.DataString())); err != nil {
			return err
		}
		return s.after(dest, &o)
	}
}

// resolve turns a path of the container into a host path inside the rootfs,
// following symlinks as if the rootfs were /, so none leads out of it.
func (s *setup) resolve(p string) (string, error) {
	dest, err := securejoin.SecureJoin(s.root, p)
	if err != nil {
		return "", err
	}
	if dest == s.root {
		return "", errors.New("destination is the root of the rootfs")
	}
	return dest, nil
}

// inside gives the container's name for dest, a result of resolve.
func (s *setup) inside(dest string) string {
	rel := strings.TrimPrefix(dest, s.root)
	if !strings.HasPrefix(rel, "/") {
		rel = "/" + rel
	}
	return rel
}

// source resolves a relative bind source against the bundle.
func (s *setup) source(p string) string {
	if p == "" || filepath.IsAbs(p) || s.bundle == "" {
		return p
	}
	return filepath.Join(s.bundle, p)
}

func (s *setup) label(data string) string {
	return label.FormatMountLabel(data, s.linux.MountLabel)
}

// procFiles are the files under /proc a mount may cover: the ones lxcfs
// emulates so that top and free show the container's numbers.
var procFiles = [...]string{
	"/proc/cpuinfo",
	"/proc/diskstats",
	"/proc/meminfo",
	"/proc/stat",
	"/proc/swaps",
	"/proc/uptime",
	"/proc/loadavg",
	"/proc/slabinfo",
	"/proc/net/dev",
	"/proc/sys/kernel/ns_last_pid",
}

// checkProc refuses mounts onto /proc or into it, wherever their destination
// resolved (a symlink may point there): covering procfs files is a way to
// hide or fake what the kernel tells the container. Only procfs itself may
// go at /proc, and only the lxcfs files below it.
func (s *setup) checkProc(dest, fstype, bindSource string) error {
	p := s.inside(dest)
	if !within(p, "/proc") {
		return nil
	}
	if p == "/proc" {
		if fstype == "proc" {
			return nil
		}
		var st unix.Statfs_t
		if bindSource != "" && s.sys.Statfs(bindSource, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC {
			return nil
		}
		return errors.New("only procfs may be mounted at /proc")
	}
	for _, f := range procFiles {
		if p == f {
			return nil
		}
	}
	return fmt.Errorf("destination resolves to %s, inside /proc, where only the files lxcfs emulates may be mounted", p)
}

// newFS mounts a new filesystem instance at dest, a directory.
func (s *setup) newFS(source, dest, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if err := s.sys.Mount(source, dest, fstype, flags, data); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	return nil
}

// bind bind-mounts source onto dest, creating dest as a directory or an empty
// file to match the source.
func (s *setup) bind(source, dest string, o *specs.MountFlags) error {
	fi, err := os.Stat(source)
	if err != nil {
		return err
	}
	if err := mountpoint(dest, fi.IsDir()); err != nil {
		return err
	}
	if err := s.sys.Mount(source, dest, "", unix.MS_BIND|o.Flags&unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	// A bind ignores every flag but MS_REC: ro, nosuid and the like need a remount.
	if f := o.Flags & perMountFlags; f != 0 {
		if err := remount(s.sys, dest, f); err != nil {
			return err
		}
	}
	return s.after(dest, o)
}

// bindSys stands in for a sysfs mount the kernel refuses.
func (s *setup) bindSys(dest string, o *specs.MountFlags) error {
	b := *o
	b.Flags |= unix.MS_BIND | unix.MS_REC
	if err := s.bind(s.hostSys, dest, &b); err != nil {
		return err
	}
	if b.Flags&unix.MS_RDONLY == 0 || b.RecAttrClr&unix.MOUNT_ATTR_RDONLY != 0 {
		return nil
	}
	// The host's mounts under /sys came along and must be read-only too;
	// kernels before 5.12 cannot, and leave them as runc does.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := s.sys.MountSetattr(dest, unix.AT_RECURSIVE, &attr); err != nil && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

// after applies what a mount(2) call cannot: recursive attributes and
// propagation.
func (s *setup) after(dest string, o *specs.MountFlags) error {
	if o.RecAttrSet|o.RecAttrClr != 0 {
		attr := unix.MountAttr{Attr_set: o.RecAttrSet, Attr_clr: o.RecAttrClr}
		if err := s.sys.MountSetattr(dest, unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	for _, p := range o.Propagation {
		if err := s.sys.Mount("", dest, "", p, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	return nil
}

// remount changes the per-mount flags of the bind mount at target.
func remount(sys system, target string, flags uintptr) error {
	flags |= unix.MS_BIND | unix.MS_REMOUNT
	err := sys.Mount("", target, "", flags, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("remount: %w", err)
	}
	// In a user namespace the flags of the source mount are locked and
	// cannot be dropped: keep them and try once more.
	var st unix.Statfs_t
	if sys.Statfs(target, &st) != nil {
		return fmt.Errorf("remount: %w", err)
	}
	locked := statfsFlags(st.Flags)
	if flags&atimeFlags != 0 {
		locked &^= atimeFlags
	}
	if flags|locked == flags {
		return fmt.Errorf("remount: %w", err)
	}
	if err := sys.Mount("", target, "", flags|locked, ""); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return nil
}

// mountpoint creates dest, a directory or an empty file, unless it exists.
func mountpoint(dest string, dir bool) error {
	if dir {
		return os.MkdirAll(dest, 0o755)
	}
	if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	fd, err := unix.Open(dest, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "create", Path: dest, Err: err}
	}
	return unix.Close(fd)
}

// cleanDest is a mount destination as an absolute clean path; relative ones
// are relative to / (deprecated, but allowed by the spec).
func cleanDest(p string) string {
	return filepath.Join("/", p)
}

// isBind reports whether a config.json mount is a bind mount.
func isBind(m *rspec.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}
