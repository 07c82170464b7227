package copier

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
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// writer copies items into the target root file system.
type writer struct {
	ctx   context.Context
	owner owner
	chmod uint32 // noMode: keep the source's
	// preserve keeps the source files' owners (owner is then root's, for
	// the directories made on the way).
	preserve bool
}

// copyItem copies one item to dest (absolute in the image), already
// resolved to target inside rootfs, as Docker's classic builder does.
func (w *writer) copyItem(rootfs, target, dest string, dirDest bool, it *item, add bool) error {
	if it.dir {
		return w.copyDir(rootfs, target, it)
	}
	if add && it.url == "" && isArchive(it.full) {
		// Unpacked with the archive's own owners and modes; a missing
		// Dest is made root-owned, as Docker's untar does.
		if _, err := mkdirAll(rootfs, target, owner{}); err != nil {
			return err
		}
		return w.untar(rootfs, target, it.full)
	}
	final := target
	isDir, err := existingDir(target)
	if err != nil {
		return err
	}
	if dirDest || isDir {
		if it.base == "" {
			return fmt.Errorf("cannot determine filename for source %s", it.name)
		}
		final = filepath.Join(target, it.base)
	}
	if final == filepath.Clean(rootfs) {
		return fmt.Errorf("cannot copy %s over the root directory", it.name)
	}
	// Missing parents of a copied file get the --chown owner (Docker's
	// MkdirAllAndChownNew with the chown identity).
	if _, err := mkdirAll(rootfs, filepath.Dir(final), w.owner); err != nil {
		return err
	}
	t := newTree(rootfs, filepath.Dir(final))
	e, err := w.fileEntry(it.full, filepath.Base(final))
	if err != nil {
		return err
	}
	if e == nil {
		return nil // a socket: nothing to copy
	}
	if it.url != "" {
		// A download is 0600 (or --chmod), dated by Last-Modified or 1970.
		e.mode = 0600
		if w.chmod != noMode {
			e.mode = w.chmod
		}
		e.mtime = it.lastMod
	}
	if err := t.write(e); err != nil {
		return err
	}
	return t.finish()
}

// copyDir copies the contents of a source directory into target,
// creating target when missing (its parents root-owned, target itself
// owned by --chown, as Docker's classic builder leaves them).
func (w *writer) copyDir(rootfs, target string, it *item) error {
	created, err := mkdirAll(rootfs, target, owner{})
	if err != nil {
		return err
	}
	if created {
		if err := lchown(target, w.owner); err != nil {
			return err
		}
	}
	t := newTree(rootfs, target)
	err = filepath.WalkDir(it.full, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if p == it.full {
			return nil
		}
		sub, err := filepath.Rel(it.full, p)
		if err != nil {
			return err
		}
		e, err := w.fileEntry(p, filepath.ToSlash(sub))
		if err != nil || e == nil {
			return err
		}
		return t.write(e)
	})
	if err != nil {
		return err
	}
	if err := t.finish(); err != nil {
		return err
	}
	if created && w.chmod != noMode {
		// Last, as for every directory: it may take away our access.
		if err := unix.Chmod(target, w.chmod); err != nil {
			return fmt.Errorf("chmod %s: %w", inImage(rootfs, target), err)
		}
	}
	return nil
}

// fileEntry describes the source file p (not followed) as the entry rel,
// owned by --chown and with --chmod applied. nil for a socket.
func (w *writer) fileEntry(p, rel string) (*entry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	e := &entry{
		rel:   rel,
		mode:  st.Mode & 07777,
		uid:   w.owner.uid,
		gid:   w.owner.gid,
		mtime: time.Unix(st.Mtim.Sec, 0), // Docker keeps whole seconds
		rdev:  st.Rdev,
	}
	if w.preserve {
		e.uid, e.gid = int(st.Uid), int(st.Gid)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.typ = tar.TypeReg
		e.src = p
		if st.Nlink > 1 {
			e.ino = [2]uint64{st.Dev, st.Ino}
		}
		if cap, ok := getCap(p); ok {
			e.xattrs = map[string]string{capXattr: cap}
		}
	case unix.S_IFDIR:
		e.typ = tar.TypeDir
	case unix.S_IFLNK:
		e.typ = tar.TypeSymlink
		target, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		e.link = target
	case unix.S_IFIFO:
		e.typ = tar.TypeFifo
	case unix.S_IFCHR:
		e.typ = tar.TypeChar
	case unix.S_IFBLK:
		e.typ = tar.TypeBlock
	default:
		return nil, nil
	}
	if w.chmod != noMode && e.typ != tar.TypeSymlink {
		e.mode = w.chmod
	}
	return e, nil
}

const capXattr = "security.capability"

func getCap(p string) (string, bool) {
	buf := make([]byte, 128)
	n, err := unix.Lgetxattr(p, capXattr, buf)
	if err != nil || n <= 0 {
		return "", false
	}
	return string(buf[:n]), true
}

// entry is one file to create below a tree's root.
type entry struct {
	rel    string // clean slash path below the root, never "." or ".."-led
	typ    byte   // a tar type flag
	mode   uint32 // permission bits with setuid, setgid, sticky
	uid    int
	gid    int
	mtime  time.Time
	link   string // symlink target, or a hardlink's target rel
	rdev   uint64
	xattrs map[string]string
	src    string    // a regular file's content: this host file, or
	body   io.Reader // this stream
	ino    [2]uint64 // device and inode of a source file with several links
}

// tree writes entries below root, a real directory inside rootfs. Parent
// directories are resolved inside root (a symlink in them stays inside,
// as in Docker's chrooted untar); the entry itself is replaced, never
// followed.
type tree struct {
	rootfs string
	root   string
	dirs   map[string]string // rel dir -> host path, checked to be a directory
	links  map[[2]uint64]string
	times  []dirTime
	asRoot bool
}

type dirTime struct {
	path  string
	mode  uint32
	mtime time.Time
}

func newTree(rootfs, root string) *tree {
	return &tree{rootfs: rootfs, root: root, dirs: map[string]string{}, links: map[[2]uint64]string{}, asRoot: os.Geteuid() == 0}
}

// parent answers the host directory that holds rel, creating missing
// directories (0755, root-owned, as an untar does).
func (t *tree) parent(rel string) (string, error) {
	d := path.Dir(rel)
	if d == "." {
		return t.root, nil
	}
	if p, ok := t.dirs[d]; ok {
		return p, nil
	}
	p, err := securejoin.SecureJoin(t.root, d)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", inImage(t.rootfs, filepath.Join(t.root, d)), err)
	}
	// As Docker's untar: a parent that is there (a symlink) is not made,
	// so one that leads nowhere inside the destination fails the write.
	if _, err := os.Lstat(filepath.Join(t.root, d)); err == nil {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			return "", fmt.Errorf("open %s: no such file or directory", "/"+rel)
		}
	}
	if _, err := mkdirAll(t.rootfs, p, owner{}); err != nil {
		return "", err
	}
	t.dirs[d] = p
	return p, nil
}

// forget drops the cached directories at or below p, which is replaced.
func (t *tree) forget(p string) {
	for k, v := range t.dirs {
		if v == p || strings.HasPrefix(v, p+"/") {
			delete(t.dirs, k)
		}
	}
}

func (t *tree) write(e *entry) error {
	dir, err := t.parent(e.rel)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, path.Base(e.rel))
	name := inImage(t.rootfs, p)
	var old unix.Stat_t
	merge := false
	if err := unix.Lstat(p, &old); err == nil {
		if old.Mode&unix.S_IFMT == unix.S_IFDIR && e.typ == tar.TypeDir {
			merge = true
		} else {
			t.forget(p)
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("replace %s: %w", name, err)
			}
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("lstat %s: %w", name, err)
	}
	if e.typ == tar.TypeReg && e.ino != ([2]uint64{}) {
		if first, ok := t.links[e.ino]; ok {
			e = &entry{rel: e.rel, typ: tar.TypeLink, link: first}
		} else {
			t.links[e.ino] = e.rel
		}
	}
	switch e.typ {
	case tar.TypeDir:
		if !merge {
			if err := unix.Mkdir(p, 0700); err != nil {
				return fmt.Errorf("mkdir %s: %w", name, err)
			}
		}
	case tar.TypeReg:
		return t.file(p, name, e)
	case tar.TypeSymlink:
		if err := unix.Symlink(e.link, p); err != nil {
			return fmt.Errorf("symlink %s: %w", name, err)
		}
	case tar.TypeLink:
		// The target is resolved inside root; link(2) does not follow
		// a symlink it names.
		td, err := securejoin.SecureJoin(t.root, path.Dir(e.link))
		if err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
		if err := unix.Linkat(unix.AT_FDCWD, filepath.Join(td, path.Base(e.link)), unix.AT_FDCWD, p, 0); err != nil {
			return fmt.Errorf("link %s to %s: %w", name, e.link, err)
		}
		return nil
	case tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
		kind := map[byte]uint32{tar.TypeFifo: unix.S_IFIFO, tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK}[e.typ]
		if err := unix.Mknod(p, kind|0600, int(e.rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", name, err)
		}
	default:
		return nil
	}
	return t.attrs(p, name, e)
}

// file writes a regular file, created exclusively and without following.
func (t *tree) file(p, name string, e *entry) (err error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0600)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", name, cerr)
		}
	}()
	body := e.body
	if e.src != "" {
		s, err := os.Open(e.src)
		if err != nil {
			return err
		}
		defer s.Close()
		body = s
	}
	if body != nil {
		if _, err := io.Copy(f, body); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return t.attrs(p, name, e)
}

// attrs sets owner, then mode (a chown clears setuid), xattrs and times.
func (t *tree) attrs(p, name string, e *entry) error {
	if t.asRoot {
		if err := unix.Lchown(p, e.uid, e.gid); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
	}
	if e.typ != tar.TypeSymlink && e.typ != tar.TypeDir {
		if err := unix.Fchmodat(unix.AT_FDCWD, p, e.mode, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", name, err)
		}
	}
	for k, v := range e.xattrs {
		if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil &&
			!errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("set xattr %s on %s: %w", k, name, err)
		}
	}
	if e.typ == tar.TypeDir {
		// Mode and times after its contents: a mode without write or
		// search permission would stop them (unless root), and they
		// change its mtime.
		t.dirs[e.rel] = p
		t.times = append(t.times, dirTime{p, e.mode, e.mtime})
		return nil
	}
	return setTimes(p, name, e.mtime)
}

func setTimes(p, name string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", name, err)
	}
	return nil
}

// finish sets the modes and times of the directories written, the last
// written (the deepest) first.
func (t *tree) finish() error {
	for i := len(t.times) - 1; i >= 0; i-- {
		d := t.times[i]
		if err := unix.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", inImage(t.rootfs, d.path), err)
		}
		if err := setTimes(d.path, inImage(t.rootfs, d.path), d.mtime); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAll creates p (inside rootfs) and its missing parents, 0755 and
// owned by o, never through a symlink. It reports whether p was created.
func mkdirAll(rootfs, p string, o owner) (bool, error) {
	rel, err := filepath.Rel(rootfs, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return false, fmt.Errorf("path %s is outside the root file system", p)
	}
	if rel == "." {
		return false, nil
	}
	cur := filepath.Clean(rootfs)
	created := false
	for _, c := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, c)
		var st unix.Stat_t
		err := unix.Lstat(cur, &st)
		if err == nil {
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return false, fmt.Errorf("mkdir %s: not a directory", inImage(rootfs, cur))
			}
			created = false
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return false, fmt.Errorf("lstat %s: %w", inImage(rootfs, cur), err)
		}
		if err := unix.Mkdir(cur, 0755); err != nil {
			return false, fmt.Errorf("mkdir %s: %w", inImage(rootfs, cur), err)
		}
		if err := unix.Chmod(cur, 0755); err != nil { // past the umask
			return false, fmt.Errorf("chmod %s: %w", inImage(rootfs, cur), err)
		}
		if err := lchown(cur, o); err != nil {
			return false, err
		}
		created = true
	}
	return created, nil
}

func lchown(p string, o owner) error {
	if os.Geteuid() != 0 {
		return nil // only root can give files away; tests run without
	}
	if err := unix.Lchown(p, o.uid, o.gid); err != nil {
		return fmt.Errorf("chown %s: %w", p, err)
	}
	return nil
}

// existingDir reports whether p is a directory (p is already resolved).
func existingDir(p string) (bool, error) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return false, nil
		}
		return false, err
	}
	return fi.IsDir(), nil
}

// inImage names a host path below rootfs as the image sees it.
func inImage(rootfs, p string) string {
	rel, err := filepath.Rel(rootfs, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return p
	}
	return path.Join("/", filepath.ToSlash(rel))
}
