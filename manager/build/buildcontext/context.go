// Package buildcontext holds the build context of `xmgr build` on both
// sides of the API: the CLI walks a directory into a tar honouring
// .dockerignore (Tar), and the daemon unpacks that tar safely into a
// directory of its own, hashing each file on the way (Open).
package buildcontext

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// DefaultDockerfile is the Dockerfile's name when none is given.
const DefaultDockerfile = "Dockerfile"

// Context is a build context unpacked on the daemon's side.
type Context struct {
	dir            string
	sums           map[string]string
	dockerfile     []byte
	dockerfileName string
}

// Open takes in a POST /build body: a tar, plain or compressed (gzip,
// bzip2, xz, zstd), unpacked into a new directory under dir; or, when the
// body is not a tar, the Dockerfile itself with an empty context (as
// `docker build - < Dockerfile`).
//
// dockerfile is the API's dockerfile parameter: a path in the context,
// "Dockerfile" when empty ("dockerfile" is tried when the default is
// missing). As Docker's daemon does, the Dockerfile and .dockerignore are
// then removed from the tree when .dockerignore excludes them.
//
// Nothing in the tar is written outside the new directory: names are
// taken relative to it (a leading "/" dropped, ".." escapes refused) and
// resolved without going through symlinks. Files are owned by root (when
// the daemon is), with the tar's modes and times. On error nothing is left.
func Open(ctx context.Context, r io.Reader, dir string, dockerfile string) (_ *Context, err error) {
	root, err := os.MkdirTemp(dir, "context-")
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	c := &Context{dir: root, sums: map[string]string{}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	name := dockerfile
	if name == "" {
		name = DefaultDockerfile
	}
	b, err := openBody(ctx, r)
	if err != nil {
		return nil, err
	}
	defer b.close()
	if !b.empty && !b.isTar {
		text, err := io.ReadAll(b.r)
		if err != nil {
			return nil, errdefs.Invalid("build context: read Dockerfile: %v", err)
		}
		c.dockerfile, c.dockerfileName = text, name
		return c, nil
	}
	if b.isTar {
		if c.sums, err = extract(ctx, b.r, root); err != nil {
			return nil, err
		}
	}
	if err := c.loadDockerfile(name); err != nil {
		return nil, err
	}
	if err := c.removeIgnored(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir is the directory holding the context.
func (c *Context) Dir() string { return c.dir }

// Dockerfile returns the Dockerfile's content.
func (c *Context) Dockerfile() []byte { return c.dockerfile }

// DockerfileName is the Dockerfile's path in the context as found
// ("dockerfile" when the default fell back to it), for messages.
func (c *Context) DockerfileName() string { return c.dockerfileName }

// ContentSum returns "blake3:<hex>" of the content of the regular file rel
// (a slash path relative to the context root, as in the tar), computed
// while unpacking. ok is false for anything else: a directory, a symlink,
// a missing or removed file.
func (c *Context) ContentSum(rel string) (sum string, ok bool) {
	rel = path.Clean(strings.TrimLeft(rel, "/"))
	sum, ok = c.sums[rel]
	return sum, ok
}

// Close removes the context's directory and everything in it.
func (c *Context) Close() error {
	if c == nil || c.dir == "" {
		return nil
	}
	err := os.RemoveAll(c.dir)
	if err != nil {
		// Directories the tar made read-only stop a caller that is not
		// root: open them up and try again.
		_ = filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
		err = os.RemoveAll(c.dir)
	}
	if err != nil {
		return fmt.Errorf("remove build context %s: %w", c.dir, err)
	}
	c.dir = ""
	return nil
}

// inRoot resolves a path as if the context were the root: symlinks are
// followed but never out of it (Docker follows them "in scope").
func (c *Context) openInRoot(rel string, flags uint64) (*os.File, error) {
	rootFd, err := unix.Open(c.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootFd)
	how := unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(rootFd, rel, &how)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

func (c *Context) loadDockerfile(name string) error {
	f, err := c.openInRoot(name, unix.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) && name == DefaultDockerfile {
		lower := strings.ToLower(name)
		if f2, err2 := c.openInRoot(lower, unix.O_RDONLY); err2 == nil {
			f, err, name = f2, nil, lower
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.Invalid("Cannot locate specified Dockerfile: %s", name)
	}
	if err != nil {
		return fmt.Errorf("open Dockerfile %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return errdefs.Invalid("unexpected error reading Dockerfile: %v", err)
	}
	if len(data) == 0 {
		return errdefs.Invalid("the Dockerfile (%s) cannot be empty", name)
	}
	c.dockerfile, c.dockerfileName = data, name
	return nil
}

// removeIgnored removes .dockerignore and the Dockerfile from the tree
// when .dockerignore excludes them, as Docker's daemon does (its CLI always
// sends both).
func (c *Context) removeIgnored() error {
	f, err := c.openInRoot(".dockerignore", unix.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read .dockerignore: %w", err)
	}
	excludes, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return errdefs.Invalid("error reading .dockerignore: %v", err)
	}
	if len(excludes) == 0 {
		return nil
	}
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return errdefs.Invalid("invalid .dockerignore: %v", err)
	}
	for _, name := range []string{".dockerignore", c.dockerfileName} {
		rel := path.Clean(strings.TrimLeft(name, "/"))
		if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if rm, err := pm.MatchesOrParentMatches(rel); err != nil || !rm {
			continue
		}
		if err := c.removeInRoot(rel); err != nil {
			return err
		}
	}
	return nil
}

// removeInRoot removes rel's last component (never what a symlink there
// points to) from its parent, resolved in the root.
func (c *Context) removeInRoot(rel string) error {
	parent, err := c.openInRoot(path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s from the build context: %w", rel, err)
	}
	defer parent.Close()
	if err := archive.RemoveAllAt(int(parent.Fd()), path.Base(rel)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s from the build context: %w", rel, err)
	}
	prefix := rel + "/"
	for k := range c.sums {
		if k == rel || strings.HasPrefix(k, prefix) {
			delete(c.sums, k)
		}
	}
	return nil
}
