package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are the devices every container gets (runtime-spec,
// config-linux.md "Default Devices"); /dev/console and /dev/ptmx are set up
// elsewhere. An entry of linux.devices with the same path wins.
var defaultDevices = [...]rspec.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devices creates linux.devices and the default devices. In a user
// namespace mknod is not allowed, so the host's device is bound onto an
// empty file instead.
func (s *setup) devices() error {
	old := s.sys.Umask(0) // fileMode is meant exactly
	defer s.sys.Umask(old)
	for i := range s.linux.Devices {
		d := &s.linux.Devices[i]
		// /dev/ptmx is the link to the container's devpts (devLinks).
		if cleanDest(d.Path) == "/dev/ptmx" {
			continue
		}
		if err := s.device(d); err != nil {
			return fmt.Errorf("linux.devices[%d] %s: %w", i, d.Path, err)
		}
	}
	for i := range defaultDevices {
		d := &defaultDevices[i]
		if s.specDevice(d.Path) {
			continue
		}
		if err := s.device(d); err != nil {
			return fmt.Errorf("default device %s: %w", d.Path, err)
		}
	}
	return nil
}

func (s *setup) specDevice(path string) bool {
	for i := range s.linux.Devices {
		if cleanDest(s.linux.Devices[i].Path) == path {
			return true
		}
	}
	return false
}

func (s *setup) device(d *rspec.LinuxDevice) error {
	dest, err := s.resolve(d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if !s.userns {
		mode, err := deviceMode(d)
		if err != nil {
			return err
		}
		err = s.sys.Mknod(dest, mode, unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
		switch {
		case err == nil:
			return s.chown(dest, d)
		case errors.Is(err, unix.EEXIST):
			// The rootfs brings its own node: keep it.
			return nil
		case !errors.Is(err, unix.EPERM):
			return &os.PathError{Op: "mknod", Path: dest, Err: err}
		}
	}
	if err := mountpoint(dest, false); err != nil {
		return err
	}
	if err := s.sys.Mount(d.Path, dest, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind host device: %w", err)
	}
	return nil
}

func (s *setup) chown(dest string, d *rspec.LinuxDevice) error {
	var uid, gid int
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid == 0 && gid == 0 {
		return nil // mknod as root made it so
	}
	if err := s.sys.Lchown(dest, uid, gid); err != nil {
		return &os.PathError{Op: "chown", Path: dest, Err: err}
	}
	return nil
}

// deviceMode is the mode argument of mknod for d.
func deviceMode(d *rspec.LinuxDevice) (uint32, error) {
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(*d.FileMode) & 0o7777
	}
	switch d.Type {
	case "c", "u":
		return unix.S_IFCHR | perm, nil
	case "b":
		return unix.S_IFBLK | perm, nil
	case "p":
		return unix.S_IFIFO | perm, nil
	}
	return 0, fmt.Errorf("type %q: want c, u, b or p", d.Type)
}

// devLinks makes the /dev symlinks of runtime-linux.md, /dev/core when the
// kernel has /proc/kcore, and /dev/ptmx when a devpts is mounted at /dev/pts.
func (s *setup) devLinks() error {
	dev, err := s.resolve("/dev")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	links := [...][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
		{"/proc/kcore", "core"},
	}
	n := len(links)
	if !s.sys.Exists("/proc/kcore") {
		n--
	}
	for _, l := range links[:n] {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("/dev symlinks: %w", err)
		}
	}
	if !s.devpts() {
		return nil
	}
	ptmx := filepath.Join(dev, "ptmx")
	if err := os.Remove(ptmx); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Symlink("pts/ptmx", ptmx); err != nil {
		return fmt.Errorf("/dev/ptmx: %w", err)
	}
	return nil
}

// devpts reports whether the spec mounts a devpts at /dev/pts.
func (s *setup) devpts() bool {
	for i := range s.spec.Mounts {
		m := &s.spec.Mounts[i]
		if m.Type == "devpts" && cleanDest(m.Destination) == "/dev/pts" {
			return true
		}
	}
	return false
}

// hostDev reports whether a mount binds something onto /dev: then the
// devices come with it and none are made.
func (s *setup) hostDev() bool {
	for i := range s.spec.Mounts {
		m := &s.spec.Mounts[i]
		if isBind(m) && cleanDest(m.Destination) == "/dev" {
			return true
		}
	}
	return false
}
