package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func devRule(typ string, major, minor int64, access string) rspec.LinuxDeviceCgroup {
	r := rspec.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major >= 0 {
		r.Major = &major
	}
	if minor >= 0 {
		r.Minor = &minor
	}
	return r
}

// defaultDeviceRules are Docker's device cgroup with runc's implicit
// additions, written out: deny everything, then allow mknod of any node
// and use of the standard devices, ptys and tun. -1 is a wildcard.
func defaultDeviceRules() []rspec.LinuxDeviceCgroup {
	return []rspec.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		devRule("c", -1, -1, "m"),
		devRule("b", -1, -1, "m"),
		devRule("c", 1, 3, "rwm"),    // /dev/null
		devRule("c", 1, 5, "rwm"),    // /dev/zero
		devRule("c", 1, 7, "rwm"),    // /dev/full
		devRule("c", 1, 8, "rwm"),    // /dev/random
		devRule("c", 1, 9, "rwm"),    // /dev/urandom
		devRule("c", 5, 0, "rwm"),    // /dev/tty
		devRule("c", 5, 1, "rwm"),    // /dev/console
		devRule("c", 5, 2, "rwm"),    // /dev/ptmx
		devRule("c", 136, -1, "rwm"), // /dev/pts/*
		devRule("c", 10, 200, "rwm"), // /dev/net/tun
	}
}

// setDevices gives a privileged container every device of the host, as
// Docker does; others get the default cgroup rules.
func setDevices(s *rspec.Spec, o *Options) error {
	if !o.Privileged {
		s.Linux.Resources.Devices = defaultDeviceRules()
		return nil
	}
	devs, err := hostDevices("/dev")
	if err != nil {
		return fmt.Errorf("privileged: listing the host's devices: %w", err)
	}
	s.Linux.Devices = devs
	s.Linux.Resources.Devices = []rspec.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	return nil
}

// hostDevices lists the device nodes under dir as runc does: not in the
// directories the container gets its own of (pts, shm, mqueue, fd), not
// /dev/console (the container's is its terminal), not through symlinks.
func hostDevices(dir string) ([]rspec.LinuxDevice, error) {
	var devs []rspec.LinuxDevice
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil // gone meanwhile, or unreadable: skip it
			}
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "console" || d.Type()&fs.ModeDevice == 0 {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		typ := "b"
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			typ = "c"
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		devs = append(devs, rspec.LinuxDevice{
			Path: p, Type: typ,
			Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
			FileMode: &mode, UID: &uid, GID: &gid,
		})
		return nil
	})
	return devs, err
}
