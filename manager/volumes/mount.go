package volumes

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// Mount notes that the container uses the volume and returns the host path
// to bind into it. A volume with options (type, device, o) has its file
// system mounted on that path by its first user; later users share it.
// A container that mounts the volume at two places calls Mount twice (and
// Unmount twice).
func (s *Store) Mount(name, containerID string) (string, error) {
	if containerID == "" {
		return "", errdefs.Invalid("mount volume %s: no container ID", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[name]
	if !ok {
		return "", noSuchVolume(name)
	}
	st := s.mounts[name]
	if st == nil {
		st = &mountState{refs: map[string]int{}}
	}
	if len(v.Options) > 0 && !st.mounted {
		if err := mountFileSystem(v); err != nil {
			return "", fmt.Errorf("mount volume %s: %w", name, err)
		}
		st.mounted = true
	}
	st.refs[containerID]++
	s.mounts[name] = st
	return v.Mountpoint, nil
}

// Unmount undoes one Mount of the container. When no container uses the
// volume any more, its file system is unmounted. Unmounting what the
// container has not mounted does nothing more than that, so a cleanup may
// run twice, and a stale mount left when the daemon restarted goes away.
func (s *Store) Unmount(name, containerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[name]
	if !ok {
		return noSuchVolume(name)
	}
	st := s.mounts[name]
	if st == nil {
		return nil
	}
	if st.refs[containerID] > 1 {
		st.refs[containerID]--
	} else {
		delete(st.refs, containerID)
	}
	if len(st.refs) > 0 {
		return nil
	}
	if st.mounted {
		if err := unix.Unmount(v.Mountpoint, 0); err != nil && err != unix.EINVAL {
			// Still mounted: the next Unmount or Remove tries again.
			return fmt.Errorf("unmount volume %s: %s: %w", name, v.Mountpoint, err)
		}
	}
	delete(s.mounts, name)
	return nil
}

// mountFileSystem mounts the volume's device as mount(8) would with
// -t type -o o device mountpoint.
func mountFileSystem(v *Volume) error {
	flags, data := parseMountOptions(v.Options["o"])
	device, fstype := v.Options["device"], v.Options["type"]
	// A bind ignores every flag but MS_REC at first: read-only and friends
	// take a remount.
	first := flags
	if flags&unix.MS_BIND != 0 {
		first = flags & (unix.MS_BIND | unix.MS_REC)
	}
	if err := unix.Mount(device, v.Mountpoint, fstype, first, data); err != nil {
		return fmt.Errorf("mount %s on %s (type %s, options %q): %w", device, v.Mountpoint, fstype, v.Options["o"], err)
	}
	if first != flags {
		if err := unix.Mount("", v.Mountpoint, "", flags|unix.MS_REMOUNT, ""); err != nil {
			unix.Unmount(v.Mountpoint, unix.MNT_DETACH)
			return fmt.Errorf("remount %s with %q: %w", v.Mountpoint, v.Options["o"], err)
		}
	}
	return nil
}

// parseMountOptions splits o ("size=100m,ro,uid=1000") into mount flags and
// the data string for the file system.
func parseMountOptions(o string) (uintptr, string) {
	flags, data := snapshots.ParseOptions(strings.Split(o, ","))
	return flags, strings.Join(data, ",")
}
