package snapshots

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount to make: as in mount(8), a type, a source and options.
type Mount struct {
	Type    string
	Source  string
	Options []string
}

// flagOptions are the words of mount(8)'s options that are flags of
// mount(2) rather than file system data; clear means the word turns its
// flag off.
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":        {false, unix.MS_NOSUID},
	"suid":          {true, unix.MS_NOSUID},
	"nodev":         {false, unix.MS_NODEV},
	"dev":           {true, unix.MS_NODEV},
	"noexec":        {false, unix.MS_NOEXEC},
	"exec":          {true, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"atime":         {true, unix.MS_NOATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
}

// ParseOptions splits mount(8)-style options into mount(2) flags and the
// file system's data words (empty words are dropped).
func ParseOptions(opts []string) (flags uintptr, data []string) {
	for _, o := range opts {
		if o == "" {
			continue
		}
		if f, ok := flagOptions[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, data
}

// Mount mounts m on target. A read-only bind mount is made in two steps,
// as the kernel wants. Overlay options longer than a page (many layers)
// are shortened by mounting from the lower directories' common parent
// with relative names, in a thread of its own so that no other goroutine
// sees the changed working directory.
func (m Mount) Mount(target string) error {
	flags, data := ParseOptions(m.Options)
	if flags&unix.MS_BIND != 0 {
		if err := unix.Mount(m.Source, target, "", flags&^unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("bind mount %s on %s: %w", m.Source, target, err)
		}
		if flags&unix.MS_RDONLY != 0 {
			rf := unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | (flags &^ (unix.MS_BIND | unix.MS_REC))
			if err := unix.Mount("", target, "", rf, ""); err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
				return fmt.Errorf("make %s read-only: %w", target, err)
			}
		}
		return nil
	}
	opts := strings.Join(data, ",")
	if len(opts) < os.Getpagesize() {
		if err := unix.Mount(m.Source, target, m.Type, flags, opts); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
		}
		return nil
	}
	dir, rel, ok := relativeLowers(data)
	if !ok || len(rel) >= os.Getpagesize() {
		return fmt.Errorf("mount %s on %s: options of %d bytes exceed a page", m.Type, target, len(opts))
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	return mountFrom(dir, m.Source, abs, m.Type, flags, rel)
}

// relativeLowers rewrites lowerdir=/a/l/X:/a/l/Y as lowerdir=X:Y relative
// to /a/l, the lower directories' common parent.
func relativeLowers(data []string) (dir, opts string, ok bool) {
	out := make([]string, len(data))
	copy(out, data)
	for i, o := range data {
		lowers, found := strings.CutPrefix(o, "lowerdir=")
		if !found {
			continue
		}
		ls := strings.Split(lowers, ":")
		dir = filepath.Dir(ls[0])
		for j, l := range ls {
			if filepath.Dir(l) != dir {
				return "", "", false
			}
			ls[j] = filepath.Base(l)
		}
		out[i] = "lowerdir=" + strings.Join(ls, ":")
		ok = true
	}
	return dir, strings.Join(out, ","), ok
}

// mountFrom mounts with dir as the working directory. The thread unshares
// its fs attributes (cwd) first and is never handed back to the Go
// scheduler, so it exits with the goroutine.
func mountFrom(dir, source, target, fstype string, flags uintptr, data string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread's cwd is changed, let it die.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		if err := unix.Mount(source, target, fstype, flags, data); err != nil {
			errc <- fmt.Errorf("mount %s on %s: %w", fstype, target, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// MountAll mounts ms on target in order; on failure it undoes what it did.
func MountAll(ms []Mount, target string) error {
	for i, m := range ms {
		if err := m.Mount(target); err != nil {
			for j := 0; j < i; j++ {
				unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// Unmount unmounts target, and whatever is stacked on it; a target that is
// not a mount point is not an error.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, 0)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}
