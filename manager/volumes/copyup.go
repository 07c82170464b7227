package volumes

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// CopyUp does Docker's copy-up: when the volume directory dst is empty, it
// copies what the image has at the mount point, src, into it, and gives dst
// the mode and owner of src. It keeps modes, owners, times, symlinks (as
// links, never followed), device nodes, fifos, extended attributes and
// hard links within src. When dst is not empty, or src does not exist or
// is not a directory, it does nothing. src must already be resolved inside
// the container's root file system; nothing below it is followed out of
// it. A failed copy empties dst again, so the next start copies afresh.
func CopyUp(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy-up: %w", err)
	}
	if !fi.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		return fmt.Errorf("copy-up: %w", err)
	}
	if len(entries) > 0 {
		return nil
	}
	c := copier{links: map[inode]string{}}
	if err := c.contents(src, dst); err != nil {
		emptyDir(dst)
		return fmt.Errorf("copy-up from %s to %s: %w", src, dst, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("copy-up: %w", err)
	}
	if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
		return fmt.Errorf("copy-up: chmod %s: %w", dst, err)
	}
	return nil
}

type inode struct{ dev, ino uint64 }

// copier remembers the first copy of each hard-linked file, so that its
// other names become links to that copy.
type copier struct {
	links map[inode]string
}

func (c *copier) contents(srcDir, dstDir string) error {
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := c.entry(filepath.Join(srcDir, e.Name()), filepath.Join(dstDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) entry(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	key := inode{uint64(st.Dev), st.Ino}
	if !fi.IsDir() && st.Nlink > 1 {
		if first, ok := c.links[key]; ok {
			return os.Link(first, dst)
		}
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		if err := c.contents(src, dst); err != nil {
			return err
		}
	case mode.IsRegular():
		if err := copyFile(src, dst); err != nil {
			return err
		}
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case mode&(os.ModeDevice|os.ModeNamedPipe) != 0:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", dst, err)
		}
	default:
		return nil // a socket means nothing without its server
	}
	if st.Nlink > 1 && !fi.IsDir() {
		c.links[key] = dst
	}
	return copyMetadata(src, dst, st, fi.Mode()&os.ModeSymlink != 0)
}

func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// copyMetadata gives dst the owner, mode, extended attributes and times of
// src, in that order: a chown clears set-user-ID bits and file
// capabilities, and each change but the last moves ctime, not mtime.
func copyMetadata(src, dst string, st *syscall.Stat_t, symlink bool) error {
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if !symlink {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return fmt.Errorf("chmod %s: %w", dst, err)
		}
		if err := copyXattrs(src, dst); err != nil {
			return err
		}
	}
	times := []unix.Timespec{unix.Timespec(st.Atim), unix.Timespec(st.Mtim)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", dst, err)
	}
	return nil
}

// copyXattrs copies what the destination's file system can hold: one that
// does not support a namespace of attributes (ENOTSUP) is not an error.
func copyXattrs(src, dst string) error {
	names, err := listXattrs(src)
	if errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing xattrs of %s: %w", src, err)
	}
	for _, name := range names {
		value, err := getXattr(src, name)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading xattr %s of %s: %w", name, src, err)
		}
		if err := unix.Lsetxattr(dst, name, value, 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("setting xattr %s on %s: %w", name, dst, err)
		}
	}
	return nil
}

func listXattrs(path string) ([]string, error) {
	for {
		n, err := unix.Llistxattr(path, nil)
		if err != nil || n == 0 {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // the list grew between the calls
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for start, i := 0, 0; i < n; i++ {
			if buf[i] == 0 {
				if i > start {
					names = append(names, string(buf[start:i]))
				}
				start = i + 1
			}
		}
		return names, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	for {
		n, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// emptyDir deletes what a failed copy left in dir (which was empty before).
func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
