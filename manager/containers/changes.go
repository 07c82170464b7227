package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// ContainerChanges lists what the container changed in its root file
// system (docker diff): A added, C changed, D deleted, as Docker reports
// them.
func (m *Manager) ContainerChanges(ctx context.Context, name string) ([]types.ContainerChange, error) {
	c, err := m.get(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.changesLocked(c)
}

// changesLocked lists c's changes; the caller holds c.mu.
func (m *Manager) changesLocked(c *Container) ([]types.ContainerChange, error) {
	if m.cfg.Layers == nil {
		return nil, errors.New("no layer store")
	}
	sn := m.cfg.Layers.Snapshotter()
	dir, wo, err := sn.Dir(c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("container %s: its snapshot: %w", c.ID, err)
	}
	if wo == archive.WhiteoutOverlay {
		mounts, err := sn.Mounts(c.SnapshotKey)
		if err != nil {
			return nil, fmt.Errorf("container %s: its snapshot: %w", c.ID, err)
		}
		return overlayChanges(dir, lowerDirs(mounts))
	}
	// A full copy (the native driver): compare it with its image.
	lower := ""
	if c.ChainID != "" {
		key := "changes-" + c.ID[:12] + "-" + newExecID()[:8]
		mounts, err := m.cfg.Layers.Mounts(key, digest.Digest(c.ChainID), true)
		if err != nil {
			return nil, fmt.Errorf("container %s: its image's layers: %w", c.ID, err)
		}
		defer sn.Remove(key)
		lower, err = os.MkdirTemp(m.cfg.ExecRoot, "changes-")
		if err != nil {
			return nil, err
		}
		defer os.Remove(lower)
		if err := snapshots.MountAll(mounts, lower); err != nil {
			return nil, fmt.Errorf("container %s: mount its image's layers: %w", c.ID, err)
		}
		defer snapshots.Unmount(lower)
	}
	return treeChanges(lower, dir)
}

// lowerDirs returns the lowerdir= directories of an overlay mount, top
// first.
func lowerDirs(ms []snapshots.Mount) []string {
	for _, m := range ms {
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				return strings.Split(v, ":")
			}
		}
	}
	return nil
}

// overlayChanges walks an overlay upper directory: a whiteout (0/0
// character device) or an opaque directory is a deletion; an entry found
// in a lower directory a change, else an addition. A directory that only
// holds changes and looks as in the lower is left out, but the parent of
// an addition or deletion is reported changed (Docker's rules).
func overlayChanges(upper string, lowers []string) ([]types.ContainerChange, error) {
	var out []types.ContainerChange
	changedDirs := map[string]bool{}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		cpath := "/" + filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		kind := types.ChangeAdd
		if overlayDeleted(p, fi) {
			kind = types.ChangeDelete
		} else {
			for _, l := range lowers {
				lfi, err := os.Lstat(filepath.Join(l, rel))
				if err != nil {
					continue
				}
				if lfi.IsDir() && fi.IsDir() && sameDir(fi, lfi) {
					return nil // only a parent of changes, itself as it was
				}
				kind = types.ChangeModify
				break
			}
		}
		if fi.IsDir() {
			changedDirs[cpath] = true
		}
		if kind != types.ChangeModify {
			if parent := path.Dir(cpath); parent != "/" && !changedDirs[parent] {
				out = append(out, types.ContainerChange{Kind: types.ChangeModify, Path: parent})
				changedDirs[parent] = true
			}
		}
		out = append(out, types.ContainerChange{Kind: uint8(kind), Path: cpath})
		return nil
	})
	return out, err
}

// overlayDeleted reports a whiteout or an opaque directory.
func overlayDeleted(p string, fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice != 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Rdev == 0 {
			return true
		}
	}
	if fi.IsDir() {
		val := make([]byte, 4)
		n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", val)
		return err == nil && string(val[:n]) == "y"
	}
	return false
}

// sameDir compares two directories' own metadata, as Docker does.
func sameDir(a, b fs.FileInfo) bool {
	return a.Mode() == b.Mode() && a.Size() == b.Size() && a.ModTime().Unix() == b.ModTime().Unix()
}

// sameEntry compares two entries' metadata (and a symlink's target).
func sameEntry(pa, pb string, a, b fs.FileInfo) bool {
	if a.Mode() != b.Mode() || a.ModTime() != b.ModTime() {
		return false
	}
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	if oka && okb && (sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Rdev != sb.Rdev) {
		return false
	}
	if a.IsDir() {
		return true
	}
	if a.Size() != b.Size() {
		return false
	}
	if a.Mode()&fs.ModeSymlink != 0 {
		la, _ := os.Readlink(pa)
		lb, _ := os.Readlink(pb)
		return la == lb
	}
	return true
}

// treeChanges compares a full copy (upper) with the tree it was copied
// from (lower, "" for none), in path order.
func treeChanges(lower, upper string) ([]types.ContainerChange, error) {
	changed := map[string]uint8{}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		cpath := "/" + filepath.ToSlash(rel)
		if lower == "" {
			changed[cpath] = types.ChangeAdd
			return nil
		}
		lp := filepath.Join(lower, rel)
		lfi, err := os.Lstat(lp)
		switch {
		case err != nil:
			changed[cpath] = types.ChangeAdd
		case !sameEntry(p, lp, fi, lfi) || lfi.IsDir() != fi.IsDir():
			changed[cpath] = types.ChangeModify
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if lower != "" {
		err = filepath.WalkDir(lower, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(lower, p)
			if err != nil || rel == "." {
				return err
			}
			if _, err := os.Lstat(filepath.Join(upper, rel)); errors.Is(err, fs.ErrNotExist) {
				changed["/"+filepath.ToSlash(rel)] = types.ChangeDelete
				if d.IsDir() {
					return filepath.SkipDir // its contents went with it
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// The parent of an addition or deletion has changed too.
	for p, k := range changed {
		if k == types.ChangeModify {
			continue
		}
		if parent := path.Dir(p); parent != "/" {
			if _, ok := changed[parent]; !ok {
				changed[parent] = types.ChangeModify
			}
		}
	}
	out := make([]types.ContainerChange, 0, len(changed))
	for p, k := range changed {
		out = append(out, types.ContainerChange{Kind: k, Path: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
