package containers

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// containerFS returns a directory that shows the container's file system
// as its processes see it: /proc/<pid>/root while it runs (its volumes and
// binds included), else its root file system mounted in a temp directory
// with its volumes and binds on top. release undoes the mounts and unlocks
// the container: while stopped it stays locked, so that a start cannot
// mount the same snapshot meanwhile.
func (m *Manager) containerFS(c *Container, withVolumes bool) (root string, release func(), err error) {
	c.mu.Lock()
	if c.State.Running() && c.State.Pid > 0 {
		pid := c.State.Pid
		c.mu.Unlock()
		return fmt.Sprintf("/proc/%d/root", pid), func() {}, nil
	}
	dir, undo, err := m.mountSnapshot(c)
	if err != nil {
		c.mu.Unlock()
		return "", nil, err
	}
	var binds []string
	if withVolumes {
		for _, mp := range c.MountPoints {
			if mp.Source == "" || mp.Type == "tmpfs" {
				continue
			}
			target, err := securejoin.SecureJoin(dir, mp.Destination)
			if err != nil {
				continue
			}
			if _, err := os.Stat(target); err != nil {
				continue // made at start; nothing to copy there yet
			}
			flags := uintptr(unix.MS_BIND | unix.MS_REC)
			if err := unix.Mount(mp.Source, target, "", flags, ""); err != nil {
				continue
			}
			binds = append(binds, target)
			if !mp.RW {
				unix.Mount("", target, "", flags|unix.MS_REMOUNT|unix.MS_RDONLY, "")
			}
		}
	}
	return dir, func() {
		for i := len(binds) - 1; i >= 0; i-- {
			unix.Unmount(binds[i], unix.MNT_DETACH)
		}
		undo()
		c.mu.Unlock()
	}, nil
}

// mountSnapshot mounts a stopped container's root file system (its
// writable snapshot over the image's layers) in a temp directory under
// the exec root. The caller holds c.mu.
func (m *Manager) mountSnapshot(c *Container) (string, func(), error) {
	if m.cfg.Layers == nil {
		return "", nil, errors.New("no layer store")
	}
	mounts, err := m.cfg.Layers.Mounts(c.SnapshotKey, digest.Digest(c.ChainID), false)
	if err != nil {
		return "", nil, fmt.Errorf("container %s: its root file system: %w", c.ID, err)
	}
	parent := filepath.Join(m.cfg.ExecRoot, "mnt")
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(parent, c.ID[:12]+"-")
	if err != nil {
		return "", nil, err
	}
	if err := snapshots.MountAll(mounts, dir); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("container %s: mount its root file system: %w", c.ID, err)
	}
	return dir, func() {
		if err := snapshots.Unmount(dir); err != nil {
			m.log.Warn("unmounting a container's root file system", "dir", dir, "err", err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		os.Remove(dir)
	}, nil
}

// resolvedPath is a container path resolved inside root: the parent
// directory with every symlink followed (inside root), the last element
// kept as it is (a symlink there is the thing itself), as docker cp does.
type resolvedPath struct {
	host string // path on the host
	name string // the entry's name in a tar: the last element, or "."
}

func resolveInRoot(root, p string) (resolvedPath, error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	// "dir/." and "dir/" name the directory's content: follow all.
	if strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/") {
		host, err := securejoin.SecureJoin(root, p)
		name := "."
		if !strings.HasSuffix(p, "/.") {
			name = path.Base(path.Clean(p))
		}
		return resolvedPath{host: host, name: name}, err
	}
	clean := path.Clean(p)
	dir, base := path.Split(clean)
	hostDir, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return resolvedPath{}, err
	}
	if base == "" { // "/"
		return resolvedPath{host: hostDir, name: "/"}, nil
	}
	return resolvedPath{host: filepath.Join(hostDir, base), name: base}, nil
}

// statIn stats p inside root for the archive endpoints.
func statIn(root, p, id string) (resolvedPath, *types.ContainerPathStat, error) {
	rp, err := resolveInRoot(root, p)
	if err != nil {
		return rp, nil, err
	}
	fi, err := os.Lstat(rp.host)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return rp, nil, errdefs.NotFound("Could not find the file %s in container %s", p, id)
	}
	if err != nil {
		return rp, nil, err
	}
	st := &types.ContainerPathStat{Name: path.Base(path.Clean("/" + p)), Size: fi.Size(), Mode: uint32(fi.Mode()), Mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		// The target as the container sees it, resolved inside root.
		if target, err := securejoin.SecureJoin(root, strings.TrimPrefix(rp.host, root)); err == nil {
			if rel, err := filepath.Rel(root, target); err == nil {
				st.LinkTarget = "/" + filepath.ToSlash(rel)
			}
		}
	}
	return rp, st, nil
}

// ContainerStatPath stats path in the container's file system.
func (m *Manager) ContainerStatPath(ctx context.Context, name, p string) (*types.ContainerPathStat, error) {
	c, err := m.get(name)
	if err != nil {
		return nil, err
	}
	root, release, err := m.containerFS(c, true)
	if err != nil {
		return nil, err
	}
	defer release()
	_, st, err := statIn(root, p, c.ID)
	return st, err
}

// ContainerArchivePath returns a tar of path (a file, or a directory and
// everything below it), its entries named from path's last element, as
// docker cp reads it.
func (m *Manager) ContainerArchivePath(ctx context.Context, name, p string) (io.ReadCloser, *types.ContainerPathStat, error) {
	c, err := m.get(name)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	attrs := m.eventAttributes(c)
	c.mu.Unlock()
	root, release, err := m.containerFS(c, true)
	if err != nil {
		return nil, nil, err
	}
	rp, st, err := statIn(root, p, c.ID)
	if err != nil {
		release()
		return nil, nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer release()
		pw.CloseWithError(archive.TarPath(pw, rp.host, rp.name))
	}()
	m.cfg.Events(types.ContainerEventType, "archive-path", c.ID, attrs)
	return pr, st, nil
}

// ContainerExtractToDir unpacks a tar into the directory p of the
// container. Entries never land outside the container: p is resolved
// inside its root, and the unpacking refuses names that climb out or go
// through symlinks. Without copyUIDGID the files belong to root, as with
// docker cp; noOverwriteDirNonDir refuses to replace a directory by a
// file or the other way round.
func (m *Manager) ContainerExtractToDir(ctx context.Context, name, p string, noOverwriteDirNonDir, copyUIDGID bool, r io.Reader) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	readonly := c.HostConfig != nil && c.HostConfig.ReadonlyRootfs
	attrs := m.eventAttributes(c)
	c.mu.Unlock()
	if readonly && !onVolume(c, p) {
		return errdefs.Conflict("container rootfs is marked read-only")
	}
	root, release, err := m.containerFS(c, true)
	if err != nil {
		return err
	}
	defer release()
	host, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(host)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return errdefs.NotFound("Could not find the file %s in container %s", p, c.ID)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errdefs.Invalid("extraction point is not a directory")
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(rewriteTar(pw, r, host, noOverwriteDirNonDir, copyUIDGID))
	}()
	_, err = archive.Apply(host, pr, archive.WhiteoutApply)
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	m.cfg.Events(types.ContainerEventType, "extract-to-dir", c.ID, attrs)
	return nil
}

// onVolume reports whether container path p is on one of c's mounts.
func onVolume(c *Container, p string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p = path.Clean("/" + p)
	for _, mp := range c.MountPoints {
		d := path.Clean(mp.Destination)
		if p == d || strings.HasPrefix(p, d+"/") {
			return mp.RW
		}
	}
	return false
}

// rewriteTar copies the tar from r to w, giving every entry root's owner
// unless copyUIDGID, and checking, when noOverwrite, that no entry turns
// an existing directory under dest into a non-directory or back.
func rewriteTar(w io.Writer, r io.Reader, dest string, noOverwrite, copyUIDGID bool) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errdefs.Invalid("the tar: %v", err)
		}
		if !copyUIDGID {
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		}
		if noOverwrite {
			if target, err := securejoin.SecureJoin(dest, hdr.Name); err == nil {
				if fi, err := os.Lstat(target); err == nil {
					isDir := hdr.Typeflag == tar.TypeDir
					if fi.IsDir() && !isDir {
						return errdefs.Invalid("cannot overwrite directory %q with non-directory %q", path.Join("/", hdr.Name), hdr.Name)
					}
					if !fi.IsDir() && isDir {
						return errdefs.Invalid("cannot overwrite non-directory %q with directory %q", path.Join("/", hdr.Name), hdr.Name)
					}
				}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// ContainerExport writes the container's root file system (without its
// volumes and binds) as a tar.
func (m *Manager) ContainerExport(ctx context.Context, name string, w io.Writer) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.State.Running() {
		// Its overlay mount in the host's namespace: none of the mounts
		// made inside the container.
		root := filepath.Join(m.bundleDir(c.ID), "rootfs")
		attrs := m.eventAttributes(c)
		c.mu.Unlock()
		m.cfg.Events(types.ContainerEventType, "export", c.ID, attrs)
		return archive.Tar(w, root)
	}
	defer c.mu.Unlock()
	root, undo, err := m.mountSnapshot(c)
	if err != nil {
		return err
	}
	defer undo()
	m.cfg.Events(types.ContainerEventType, "export", c.ID, m.eventAttributes(c))
	return archive.Tar(w, root)
}
