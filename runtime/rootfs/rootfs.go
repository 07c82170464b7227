// Package rootfs builds a container's root filesystem from config.json and
// moves the container's init into it. The init calls it from inside its new
// mount namespace: Prepare (propagation, mounts, devices, /dev symlinks),
// Pivot (pivot_root or move+chroot), then Finish (readonly and masked paths,
// read-only root, rootfs propagation).
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux/label"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/specs"
)

// Options says which rootfs to build and how.
type Options struct {
	Spec *rspec.Spec
	// Rootfs is the absolute host path of the root filesystem (root.path
	// resolved against the bundle by the caller).
	Rootfs string
	// Bundle is the directory relative bind-mount sources are relative to;
	// empty means the current directory.
	Bundle string
	// NoPivot (--no-pivot) moves the rootfs onto / and chroots instead of
	// using pivot_root.
	NoPivot bool
	// BeforePivot runs after all mounts and devices, just before the pivot
	// (createContainer hooks run there). It may be nil.
	BeforePivot func() error
}

// Prepare sets the propagation of /, bind-mounts the rootfs onto itself,
// mounts every entry of mounts inside it and creates the devices and /dev
// symlinks. It must run in the container's own mount namespace, which the
// spec must ask for.
func Prepare(o Options) error {
	return prepare(o, kernel{checked: true})
}

// Pivot runs BeforePivot, then makes the rootfs the root of the mount
// namespace (pivot_root, or MS_MOVE and chroot with NoPivot) and changes to /.
func Pivot(o Options) error {
	return pivot(o, kernel{})
}

// Finish runs after Pivot: it creates process.cwd, then applies
// readonlyPaths, maskedPaths, a read-only /dev and root.readonly, then the
// propagation of / that linux.rootfsPropagation asks.
func Finish(o Options) error {
	return finish(o, kernel{})
}

// setup is what every step of Prepare needs.
type setup struct {
	sys      system
	spec     *rspec.Spec
	linux    *rspec.Linux
	root     string // rootfs with host symlinks resolved
	bundle   string
	userns   bool // a user namespace is created or joined
	newNet   bool // a new network namespace is created
	cgroupns bool // a new cgroup namespace is created

	// Host paths the fallbacks bind from (fields so tests can move them).
	hostSys, hostMqueue, hostCgroup string

	cgroups     []hierarchy // the host's cgroup v1 hierarchies, read once
	cgroupsRead bool
}

var noLinux rspec.Linux

func linuxOf(spec *rspec.Spec) *rspec.Linux {
	if spec.Linux == nil {
		return &noLinux
	}
	return spec.Linux
}

// namespace reports whether the spec has a namespace of type t, and whether
// it is a new one rather than one joined by path.
func namespace(l *rspec.Linux, t rspec.LinuxNamespaceType) (has, isNew bool) {
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return true, ns.Path == ""
		}
	}
	return false, false
}

func rootPropagation(l *rspec.Linux) (uintptr, error) {
	if l.RootfsPropagation == "" {
		return 0, nil
	}
	p, ok := specs.Propagation(l.RootfsPropagation)
	if !ok {
		return 0, fmt.Errorf("linux.rootfsPropagation: unknown value %q", l.RootfsPropagation)
	}
	return p, nil
}

func prepare(o Options, sys system) error {
	if o.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	if !filepath.IsAbs(o.Rootfs) {
		return fmt.Errorf("rootfs %q: not an absolute path", o.Rootfs)
	}
	l := linuxOf(o.Spec)
	if has, _ := namespace(l, rspec.MountNamespace); !has {
		return errors.New("linux.namespaces: no mount namespace, refusing to change the host's mounts")
	}
	prop, err := rootPropagation(l)
	if err != nil {
		return err
	}
	root, err := filepath.EvalSymlinks(o.Rootfs)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	s := &setup{
		sys: sys, spec: o.Spec, linux: l, root: root, bundle: o.Bundle,
		hostSys: "/sys", hostMqueue: "/dev/mqueue", hostCgroup: "/sys/fs/cgroup",
	}
	s.userns, _ = namespace(l, rspec.UserNamespace)
	_, s.newNet = namespace(l, rspec.NetworkNamespace)
	_, s.cgroupns = namespace(l, rspec.CgroupNamespace)

	// Nothing done in here may reach the host: make / a slave (or what
	// rootfsPropagation asks) before the first mount.
	if prop == 0 {
		prop = unix.MS_SLAVE | unix.MS_REC
	}
	if err := sys.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set propagation of /: %w", err)
	}
	if err := s.privateParent(); err != nil {
		return err
	}
	// pivot_root needs the new root to be a mount point.
	if err := sys.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s onto itself: %w", root, err)
	}
	for i := range o.Spec.Mounts {
		m := &o.Spec.Mounts[i]
		if err := s.mount(m); err != nil {
			return mountError(i, m, err)
		}
	}
	if !s.hostDev() {
		if err := s.devices(); err != nil {
			return err
		}
		if err := s.devLinks(); err != nil {
			return err
		}
	}
	return nil
}

// privateParent makes the mount that holds the rootfs private: pivot_root
// refuses a new root whose parent mount is shared, and the self-bind must
// not propagate anywhere. mount(MS_PRIVATE) fails with EINVAL on a path that
// is no mount point, so walk up until one takes it.
func (s *setup) privateParent() error {
	for p := s.root; ; p = filepath.Dir(p) {
		err := s.sys.Mount("", p, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if err != unix.EINVAL || p == "/" {
			return fmt.Errorf("make the mount of rootfs %s private at %s: %w", s.root, p, err)
		}
	}
}

func mountError(i int, m *rspec.Mount, err error) error {
	typ := m.Type
	if isBind(m) {
		typ = "bind"
	}
	if m.Source == "" {
		return fmt.Errorf("mounts[%d] %s (%s): %w", i, m.Destination, typ, err)
	}
	return fmt.Errorf("mounts[%d] %s (%s from %s): %w", i, m.Destination, typ, m.Source, err)
}

func pivot(o Options, sys system) error {
	if o.BeforePivot != nil {
		if err := o.BeforePivot(); err != nil {
			return err
		}
	}
	if o.NoPivot {
		return sys.MoveRoot(o.Rootfs)
	}
	return sys.PivotRoot(o.Rootfs)
}

func finish(o Options, sys system) error {
	if o.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	l := linuxOf(o.Spec)
	// The working directory may be missing from the image; after this the
	// root may be read-only.
	if o.Spec.Process != nil && o.Spec.Process.Cwd != "" {
		if err := sys.MkdirAll(o.Spec.Process.Cwd, 0o755); err != nil {
			return fmt.Errorf("process.cwd: %w", err)
		}
	}
	for _, p := range l.ReadonlyPaths {
		if err := readonlyPath(sys, p); err != nil {
			return fmt.Errorf("linux.readonlyPaths %s: %w", p, err)
		}
	}
	for _, p := range l.MaskedPaths {
		if err := maskPath(sys, p, l.MountLabel); err != nil {
			return fmt.Errorf("linux.maskedPaths %s: %w", p, err)
		}
	}
	for i := range o.Spec.Mounts {
		m := &o.Spec.Mounts[i]
		if cleanDest(m.Destination) != "/dev" {
			continue
		}
		// A read-only /dev was mounted writable so the devices could be made in it.
		if f := specs.ParseMountOptions(m.Options).Flags; f&unix.MS_RDONLY != 0 {
			if err := remount(sys, "/dev", f&perMountFlags); err != nil {
				return mountError(i, m, err)
			}
		}
	}
	if o.Spec.Root != nil && o.Spec.Root.Readonly {
		if err := readonlyRoot(sys); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	prop, err := rootPropagation(l)
	if err != nil {
		return err
	}
	// Done again now that the rootfs is /: before the pivot it could only be
	// set on the host's / of this namespace.
	if prop != 0 {
		if err := sys.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", l.RootfsPropagation, err)
		}
	}
	return nil
}

// readonlyPath makes path a read-only bind of itself; a missing path is left
// alone.
func readonlyPath(sys system, path string) error {
	if err := sys.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("bind: %w", err)
	}
	var st unix.Statfs_t
	if err := sys.Statfs(path, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	// Keep what the kernel locks in a user namespace (and would refuse to drop).
	flags := statfsFlags(st.Flags)&(perMountFlags&^unix.MS_RDONLY) | unix.MS_RDONLY
	if err := sys.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount read-only: %w", err)
	}
	return nil
}

// maskPath hides path: a file under a bind of /dev/null, a directory under an
// empty read-only tmpfs. Binding a file onto a directory fails with ENOTDIR,
// which tells the two apart without a stat.
func maskPath(sys system, path, mountLabel string) error {
	err := sys.Mount("/dev/null", path, "", unix.MS_BIND, "")
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTDIR):
		if err := sys.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, label.FormatMountLabel("", mountLabel)); err != nil {
			return fmt.Errorf("mount tmpfs: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("bind /dev/null: %w", err)
	}
}

// readonlyRoot remounts / read-only, keeping its other flags.
func readonlyRoot(sys system) error {
	var st unix.Statfs_t
	if err := sys.Statfs("/", &st); err != nil {
		return &os.PathError{Op: "statfs", Path: "/", Err: err}
	}
	flags := statfsFlags(st.Flags)&perMountFlags | unix.MS_RDONLY
	if err := sys.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	return nil
}
