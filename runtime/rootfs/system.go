package rootfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// system is the narrow set of privileged calls the rootfs code makes: kernel
// is the real one, and the unit tests use a recorder. Plain file work inside
// the rootfs (mount points, symlinks) is done directly: it needs no privilege
// and works the same in a test's temporary directory. MkdirAll is here for
// process.cwd, made after the pivot, at a path that is the host's in a test.
type system interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	// MountSetattr is mount_setattr(2) on target.
	MountSetattr(target string, flags int, attr *unix.MountAttr) error
	Mknod(path string, mode uint32, dev uint64) error
	Lchown(path string, uid, gid int) error
	Umask(mask int) int
	Statfs(path string, st *unix.Statfs_t) error
	ReadFile(path string) ([]byte, error)
	Exists(path string) bool
	MkdirAll(path string, perm os.FileMode) error
	// PivotRoot makes rootfs the root with pivot_root(2) and detaches the old root.
	PivotRoot(rootfs string) error
	// MoveRoot makes rootfs the root with MS_MOVE and chroot (--no-pivot).
	MoveRoot(rootfs string) error
}

// kernel is the real system. With checked set, every mount target is opened
// first and must still be the very path that was resolved inside the rootfs:
// a symlink swapped in after the resolution is refused instead of followed
// out of the rootfs. The mount then goes through /proc/self/fd, so it lands
// on what was checked.
type kernel struct {
	checked bool
}

func (k kernel) Mount(source, target, fstype string, flags uintptr, data string) error {
	if !k.checked {
		return unix.Mount(source, target, fstype, flags, data)
	}
	fd, err := unix.Open(target, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	p, err := fdPath(fd, target)
	if err != nil {
		return err
	}
	return unix.Mount(source, p, fstype, flags, data)
}

func (k kernel) MountSetattr(target string, flags int, attr *unix.MountAttr) error {
	fd, err := unix.Open(target, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if k.checked {
		if _, err := fdPath(fd, target); err != nil {
			return err
		}
	}
	return unix.MountSetattr(fd, "", uint(flags|unix.AT_EMPTY_PATH), attr)
}

// fdPath returns the /proc/self/fd path of fd after checking that fd is
// target. Without procfs it cannot check, and returns target itself.
func fdPath(fd int, target string) (string, error) {
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	buf := make([]byte, len(target)+1) // one more byte shows a longer path
	n, err := unix.Readlink(p, buf)
	if err == unix.ENOENT {
		return target, nil
	}
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: p, Err: err}
	}
	if got := string(buf[:n]); got != target {
		return "", fmt.Errorf("%s leads to %s: refusing to mount through a symlink", target, got)
	}
	return p, nil
}

func (kernel) Mknod(path string, mode uint32, dev uint64) error {
	return unix.Mknod(path, mode, int(dev))
}

func (kernel) Lchown(path string, uid, gid int) error { return unix.Lchown(path, uid, gid) }

func (kernel) Umask(mask int) int { return unix.Umask(mask) }

func (kernel) Statfs(path string, st *unix.Statfs_t) error { return unix.Statfs(path, st) }

func (kernel) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (kernel) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

func (kernel) Exists(path string) bool {
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil
}

// PivotRoot uses pivot_root(".", ".") so no directory for the old root is
// needed in the rootfs: afterwards the old root is stacked under the new one
// and our cwd is still in it, so it can be detached through ".".
func (kernel) PivotRoot(rootfs string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldRoot)
	newRoot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(newRoot)
	if err := unix.Fchdir(newRoot); err != nil {
		return &os.PathError{Op: "chdir", Path: rootfs, Err: err}
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: rootfs, Err: err}
	}
	// The kernel leaves cwd in the old root, but does not promise it.
	if err := unix.Fchdir(oldRoot); err != nil {
		return &os.PathError{Op: "chdir", Path: "old root", Err: err}
	}
	// Slave first, so that detaching the old root's mounts does not
	// propagate to their peers on the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "make old root rslave", Path: ".", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount old root", Path: ".", Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// MoveRoot moves the rootfs onto / and chroots into it. The host's procfs and
// sysfs mounts stay in this mount namespace, out of reach of paths but not of
// the kernel's "is procfs fully visible" check for nested containers: detach
// them first, or cover them with an empty tmpfs when they cannot be detached.
func (kernel) MoveRoot(rootfs string) error {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		if m.FSType != "proc" && m.FSType != "sysfs" {
			return true, false
		}
		return within(m.Mountpoint, rootfs), false
	})
	if err != nil {
		return err
	}
	// Deepest first, so a mount is never detached before one stacked inside it.
	for i := len(mounts) - 1; i >= 0; i-- {
		mp := mounts[i].Mountpoint
		if err := unix.Unmount(mp, unix.MNT_DETACH); err == nil {
			continue
		}
		if err := unix.Mount("tmpfs", mp, "tmpfs", unix.MS_RDONLY, ""); err != nil {
			return &os.PathError{Op: "mask host " + mounts[i].FSType, Path: mp, Err: err}
		}
	}
	if err := unix.Chdir(rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: rootfs, Err: err}
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return &os.PathError{Op: "move mount onto /", Path: rootfs, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: rootfs, Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	if dir == "/" {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}
