package layers

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// Changes lists what the active snapshot key (made with Mounts(key,
// parent, false)) changed over the layer parent, as docker diff shows
// it: in the order a layer tar holds them, A for an addition, C for a
// change, D for a deletion (an opaque overlay directory is one, its
// entries additions). A directory that only holds changes is left out,
// but the parent of an addition or deletion is reported changed. What
// Docker keeps in a container's init layer is left out: see Diff.
func (s *Store) Changes(ctx context.Context, key string, parent digest.Digest) ([]Change, error) {
	nodes, done, err := s.diffNodes(ctx, key, parent)
	if err != nil {
		return nil, err
	}
	defer done()
	return changesOf(nodes), nil
}

// Diff writes what the active snapshot key (made with Mounts(key, parent,
// false)) changed over the layer parent as an uncompressed layer tar, in
// archive.Tar's order and format: added and changed entries (with the
// directories above them, hardlinks among them as links, xattrs as PAX
// records), a deletion as a ".wh.NAME" entry, an overlay opaque directory
// followed by ".wh..wh..opq".
//
// It leaves out what Docker keeps in a container's init layer, so that a
// runtime's mount points never reach an image: anything under /proc, /sys
// and /dev; those directories, and /etc/hosts, /etc/hostname,
// /etc/resolv.conf, /etc/mtab and /.dockerenv, when the parent layers
// lack them and they are empty (as a runtime makes them); and a
// directory there only to hold such placeholders.
func (s *Store) Diff(ctx context.Context, w io.Writer, key string, parent digest.Digest) error {
	nodes, done, err := s.diffNodes(ctx, key, parent)
	if err != nil {
		return err
	}
	defer done()
	if err := writeDiff(ctx, w, nodes); err != nil {
		return fmt.Errorf("diff of snapshot %s: %w", key, err)
	}
	return nil
}

// diffNodes walks the snapshot key against parent and prunes the result;
// done releases what the walk needed.
func (s *Store) diffNodes(ctx context.Context, key string, parent digest.Digest) (_ []node, done func(), err error) {
	if parent != "" {
		if err := parent.Validate(); err != nil {
			return nil, nil, errdefs.Invalid("layer %q: %v", parent, err)
		}
	}
	info, err := s.sn.Stat(key)
	if err != nil {
		return nil, nil, fmt.Errorf("diff of snapshot %s: %w", key, err)
	}
	if info.Parent != parent.String() {
		return nil, nil, errdefs.Conflict("diff of snapshot %s: it is on layer %q, not %q", key, info.Parent, parent)
	}
	dir, wo, err := s.sn.Dir(key)
	if err != nil {
		return nil, nil, fmt.Errorf("diff of snapshot %s: %w", key, err)
	}
	done = func() {}
	var nodes []node
	if wo == archive.WhiteoutOverlay {
		// The upper directory holds the changes; the lowers say what they
		// change.
		ms, err := s.sn.Mounts(key)
		if err != nil {
			return nil, nil, fmt.Errorf("diff of snapshot %s: %w", key, err)
		}
		nodes, err = overlayNodes(ctx, dir, lowerDirs(ms))
		if err != nil {
			return nil, nil, err
		}
	} else {
		lower := ""
		if parent != "" {
			if lower, done, err = s.viewDir(parent); err != nil {
				return nil, nil, fmt.Errorf("diff of snapshot %s: %w", key, err)
			}
		}
		nodes, err = copyNodes(ctx, lower, dir)
		if err != nil {
			done()
			return nil, nil, err
		}
	}
	prune(nodes)
	return nodes, done, nil
}

// viewDir returns a directory holding the layer chainID's tree, read
// only, and what undoes it: the source of a view's bind mount when the
// view is one (the native driver), else the view mounted in a temp
// directory.
func (s *Store) viewDir(chainID digest.Digest) (string, func(), error) {
	// A temp key: Cleanup removes it after a crash.
	key := tempPrefix + "diff-" + randomSuffix()
	ms, err := s.sn.View(key, chainID.String())
	if err != nil {
		return "", nil, fmt.Errorf("view of layer %s: %w", chainID, err)
	}
	remove := func() { s.sn.Remove(key) }
	if len(ms) == 1 && ms[0].Type == "bind" {
		return ms[0].Source, remove, nil
	}
	target, err := os.MkdirTemp("", "xmgr-diff-")
	if err != nil {
		remove()
		return "", nil, err
	}
	if err := snapshots.MountAll(ms, target); err != nil {
		os.Remove(target)
		remove()
		return "", nil, fmt.Errorf("mount view of layer %s: %w", chainID, err)
	}
	return target, func() {
		snapshots.Unmount(target)
		os.Remove(target)
		remove()
	}, nil
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

// writeDiff writes the nodes not dropped as a layer tar.
func writeDiff(ctx context.Context, w io.Writer, nodes []node) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	buf := make([]byte, 256<<10)
	for _, n := range nodes {
		if n.drop {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if n.kind == ChangeDelete && !n.opaque && n.path == "" {
			// Found by comparing copies: no whiteout on disk to describe.
			dir, base := path.Split(n.rel)
			hdr := &tar.Header{Name: dir + ".wh." + base, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(0, 0)}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		if err := writeNode(tw, n, links, buf); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeNode writes one entry as archive.Tar does (an overlay whiteout
// becomes a ".wh." entry there).
func writeNode(tw *tar.Writer, n node, links map[[2]uint64]string, buf []byte) error {
	var st unix.Stat_t
	if err := unix.Lstat(n.path, &st); err != nil {
		return fmt.Errorf("tar %s: %w", n.path, err)
	}
	hdr, err := archive.Header(n.path, n.rel, &st)
	if err != nil || hdr == nil {
		return err
	}
	// A whiteout (a 0/0 device, written as a ".wh." file) is no hardlink
	// even though overlayfs may link every whiteout to one inode.
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1 {
		id := [2]uint64{st.Dev, st.Ino}
		if first, ok := links[id]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			links[id] = n.rel
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar %s: %w", n.path, err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		f, err := os.OpenFile(n.path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("tar %s: %w", n.path, err)
		}
		m, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
		f.Close()
		if err != nil {
			return fmt.Errorf("tar %s: %w", n.path, err)
		}
		if m != hdr.Size {
			return fmt.Errorf("tar %s: file shrank while being read", n.path)
		}
	}
	if n.opaque {
		return tw.WriteHeader(&tar.Header{
			Name: n.rel + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644,
			ModTime: hdr.ModTime, Uid: hdr.Uid, Gid: hdr.Gid,
		})
	}
	return nil
}
