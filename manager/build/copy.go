package build

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/build/copier"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// copyRequest is a COPY or ADD, its words expanded.
type copyRequest struct {
	name         string // COPY or ADD
	sources      []string
	dest         string
	from         string // COPY --from: a stage or an image
	chown, chmod string
	add          bool
}

// copyStep is COPY and ADD: the sources' checksum is part of the cache
// key (Docker's "COPY file:<sum> in <dest> " command); on a miss the files
// are copied into a snapshot of the stage's image.
func (bd *build) copyStep(st *stage, r copyRequest) error {
	src := copier.Source{Root: bd.context.Dir(), Context: true, ContentSum: bd.context.ContentSum}
	if r.from != "" {
		root, err := bd.fromRoot(r.from)
		if err != nil {
			return fmt.Errorf("invalid from flag value %s: %w", r.from, err)
		}
		src = copier.Source{Root: root}
	}
	opts := copier.Options{
		Sources: r.sources, Dest: r.dest, WorkDir: st.runConfig.WorkingDir,
		Chown: r.chown, Chmod: r.chmod, Add: r.add,
		PreserveOwnership: r.from != "" && r.chown == "",
	}
	// The sources are found (URLs downloaded) once, for the key and the copy.
	srcs, err := copier.Open(bd.ctx, src, opts)
	if err != nil {
		return err
	}
	defer srcs.Close()
	sum, err := srcs.Checksum(bd.ctx)
	if err != nil {
		return err
	}
	flags := ""
	if r.chown != "" {
		flags = "--chown=" + r.chown // no space after: Docker's comment has none
	}
	if r.chmod != "" {
		flags += "--chmod=" + r.chmod + " "
	}
	comment := fmt.Sprintf("%s %s%s in %s ", r.name, flags, sum, r.dest)
	probe := withComment(&st.runConfig, comment, true)
	if hit, err := bd.probe(st, probe); err != nil || hit {
		return err
	}
	return bd.inSnapshot(st, probe, func(rootfs string) error {
		return srcs.Copy(bd.ctx, rootfs)
	})
}

// workdir is WORKDIR: the directory is made at once (root's, 0755), so
// the step has a layer when it was missing, as in Docker.
func (bd *build) workdir(st *stage, c *instructions.WorkdirCommand) error {
	wd := normalizeWorkdir(st.runConfig.WorkingDir, c.Path)
	st.runConfig.WorkingDir = path.Clean(wd)
	if bd.noCommit {
		return nil
	}
	probe := withComment(&st.runConfig, "WORKDIR "+wd, true)
	if hit, err := bd.probe(st, probe); err != nil || hit {
		return err
	}
	return bd.inSnapshot(st, probe, func(rootfs string) error {
		dir, err := securejoin.SecureJoin(rootfs, st.runConfig.WorkingDir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			// Name the path in the image, not the mount point's.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = fmt.Errorf("%s %s: %w", pe.Op, "/"+strings.TrimPrefix(strings.TrimPrefix(pe.Path, rootfs), "/"), pe.Err)
			}
			return fmt.Errorf("WORKDIR %s: %w", st.runConfig.WorkingDir, err)
		}
		return nil
	})
}

// inSnapshot runs fn on a writable snapshot of the stage's image mounted
// at a temp dir, then commits the snapshot's changes as the step's layer.
// The snapshot and the mount are gone when it returns, whatever happened.
func (bd *build) inSnapshot(st *stage, containerCfg *types.ContainerConfig, fn func(rootfs string) error) (err error) {
	ls := bd.b.cfg.Layers
	key, parent := randomKey("build-"), topLayer(st.image)
	ms, err := ls.Mounts(key, parent, false)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := ls.Snapshotter().Remove(key); rerr != nil && err == nil {
			err = rerr
		}
	}()
	dir, err := os.MkdirTemp(bd.b.cfg.TempDir, "rootfs-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := snapshots.MountAll(ms, dir); err != nil {
		return fmt.Errorf("mounting the image's file system: %w", err)
	}
	mounted := true
	defer func() {
		if mounted {
			snapshots.Unmount(dir)
		}
	}()
	if err := fn(dir); err != nil {
		return err
	}
	if err := snapshots.Unmount(dir); err != nil {
		return err
	}
	mounted = false
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(ls.Diff(bd.ctx, pw, key, parent)) }()
	err = bd.commit(st, pr, containerCfg)
	pr.CloseWithError(err)
	return err
}

// fromRoot mounts, read-only, the image COPY --from names (an earlier
// stage, by name or number, or an image, pulled when missing) and returns
// where; the build's cleanup unmounts it.
func (bd *build) fromRoot(name string) (string, error) {
	var img *images.Image
	if st, ok := bd.stages[strings.ToLower(name)]; ok {
		img = st.image
	} else if i, ok := stageIndex(bd.df.stages, len(bd.built), name); ok {
		img = bd.built[i].image
	} else {
		var err error
		if img, err = bd.image(name); err != nil {
			return "", err
		}
	}
	if root, ok := bd.mounted[img.ID]; ok {
		return root, nil
	}
	ls := bd.b.cfg.Layers
	key := randomKey("build-from-")
	ms, err := ls.Mounts(key, topLayer(img), true)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(bd.b.cfg.TempDir, "from-")
	if err != nil {
		ls.Snapshotter().Remove(key)
		return "", err
	}
	if err := snapshots.MountAll(ms, dir); err != nil {
		ls.Snapshotter().Remove(key)
		os.Remove(dir)
		return "", err
	}
	bd.cleanups = append(bd.cleanups, func() {
		snapshots.Unmount(dir)
		os.Remove(dir)
		ls.Snapshotter().Remove(key)
	})
	if bd.mounted == nil {
		bd.mounted = map[digest.Digest]string{}
	}
	bd.mounted[img.ID] = dir
	return dir, nil
}

// randomKey names a temporary snapshot.
func randomKey(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// topLayer is an image's top layer chain ID ("" for none).
func topLayer(img *images.Image) digest.Digest {
	if img == nil || len(img.Layers) == 0 {
		return ""
	}
	return img.Layers[len(img.Layers)-1]
}
