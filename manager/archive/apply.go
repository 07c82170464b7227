package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Whiteouts says what Apply does with the whiteout entries of a layer.
type Whiteouts int

const (
	// WhiteoutOverlay keeps them in overlayfs form: ".wh.NAME" becomes a
	// 0/0 character device NAME and ".wh..wh..opq" the xattr
	// trusted.overlay.opaque=y on its directory. For a layer unpacked into
	// a directory of its own, used as an overlay lower.
	WhiteoutOverlay Whiteouts = iota
	// WhiteoutApply carries them out: NAME is deleted, an opaque
	// directory loses what earlier layers put in it. For a layer applied
	// on top of a copy of its parent (the native driver).
	WhiteoutApply
	// WhiteoutNone treats them as ordinary files: for a tar that is no
	// layer (a build context).
	WhiteoutNone
)

// Options tune ApplyWith.
type Options struct {
	Whiteouts Whiteouts
	// Entry, when set, is called with each entry before it is unpacked;
	// the content of a regular file also goes to the writer it returns
	// (nil: nowhere). The build context sums its files so, in the same
	// pass.
	Entry func(rel string, hdr *tar.Header) io.Writer
}

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	whiteoutMeta   = ".wh..wh."
	paxXattr       = "SCHILY.xattr."
	overlayOpaque  = "trusted.overlay.opaque"
	// Parent directories kept open; past this the cache is emptied.
	maxOpenDirs = 1024
)

// Apply unpacks the tar stream into dir, which must exist, and returns the
// number of bytes of regular files written.
//
// It is faithful: modes (setuid, setgid, sticky included), owners, mtimes
// and atimes (symlinks' own, directories' set after their contents),
// xattrs (PAX SCHILY.xattr.*), hardlinks, symlinks, devices and fifos. A
// later entry replaces an earlier one of the same name (a directory stays a
// directory). An entry whose name is absolute, climbs out with "..", or
// whose parent path goes through a symlink is refused: names are resolved
// one component at a time from open directory file descriptors with
// O_NOFOLLOW, never through the path of dir.
//
// On error, dir holds whatever was unpacked so far: the caller removes it.
func Apply(dir string, tarStream io.Reader, w Whiteouts) (size int64, err error) {
	return ApplyWith(dir, tarStream, Options{Whiteouts: w})
}

// ApplyWith is Apply with options.
func ApplyWith(dir string, tarStream io.Reader, o Options) (size int64, err error) {
	w := o.Whiteouts
	rootFd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("apply layer to %s: %w", dir, err)
	}
	a := &applier{
		root:     rootFd,
		dir:      dir,
		wo:       w,
		dirs:     map[string]int{},
		dirTimes: map[string][2]unix.Timespec{},
		buf:      make([]byte, 256<<10),
		onEntry:  o.Entry,
	}
	if w == WhiteoutApply {
		a.unpacked = map[string]struct{}{}
	}
	defer a.close()

	tr := tar.NewReader(tarStream)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return a.size, errdefs.Invalid("layer tar: %v", truncated(err))
		}
		if err := a.entry(hdr, tr); err != nil {
			return a.size, err
		}
	}
	// Directories' times last: creating their contents moved them.
	for rel, ts := range a.dirTimes {
		if len(a.dirs) >= maxOpenDirs {
			a.dropDirs()
		}
		pfd, base, err := a.parent(rel, false)
		if err != nil {
			continue // removed by a later whiteout
		}
		if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
			return a.size, fmt.Errorf("set times of %s: %w", rel, err)
		}
	}
	return a.size, nil
}

type applier struct {
	root     int
	dir      string
	wo       Whiteouts
	dirs     map[string]int // relative directory path -> O_PATH fd
	dirTimes map[string][2]unix.Timespec
	unpacked map[string]struct{} // WhiteoutApply: names this layer created
	buf      []byte
	size     int64
	onEntry  func(rel string, hdr *tar.Header) io.Writer
	tee      io.Writer // where the current file's content also goes
}

func (a *applier) close() {
	a.dropDirs()
	unix.Close(a.root)
}

func (a *applier) dropDirs() {
	for k, fd := range a.dirs {
		unix.Close(fd)
		delete(a.dirs, k)
	}
}

// forget drops cached fds of rel and everything under it, after rel was
// removed or replaced.
func (a *applier) forget(rel string) {
	prefix := rel + "/"
	for k, fd := range a.dirs {
		if k == rel || strings.HasPrefix(k, prefix) {
			unix.Close(fd)
			delete(a.dirs, k)
		}
	}
}

// cleanName checks a tar entry name and returns it relative and clean.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errdefs.Invalid("layer tar: an entry with an empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", errdefs.Invalid("layer tar: %q: absolute path", name)
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errdefs.Invalid("layer tar: %q: path escapes the layer", name)
	}
	return c, nil
}

// dirFd returns an O_PATH fd of the directory rel (relative to the root),
// opening one component at a time without following symlinks; with create
// it makes missing directories (0755, as Docker does).
func (a *applier) dirFd(rel string, create bool) (int, error) {
	if rel == "." {
		return a.root, nil
	}
	if fd, ok := a.dirs[rel]; ok {
		return fd, nil
	}
	pfd, base, err := a.parent(rel, create)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) && create {
		if err := unix.Mkdirat(pfd, base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("layer tar: create %s: %w", rel, err)
		}
		fd, err = unix.Openat(pfd, base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			var st unix.Stat_t
			if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return -1, errdefs.Invalid("layer tar: %s is a symlink: refusing a path through it", rel)
			}
			return -1, errdefs.Invalid("layer tar: %s is not a directory", rel)
		}
		return -1, fmt.Errorf("layer tar: open %s: %w", rel, err)
	}
	a.dirs[rel] = fd
	return fd, nil
}

// parent returns the fd of rel's directory and rel's last component.
func (a *applier) parent(rel string, create bool) (int, string, error) {
	pfd, err := a.dirFd(path.Dir(rel), create)
	return pfd, path.Base(rel), err
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	// Evict between entries only: an fd handed out within one entry must
	// stay open (a closed number could be reused for another directory).
	if len(a.dirs) >= maxOpenDirs {
		a.dropDirs()
	}
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "." {
		// The layer's root is the snapshot's: keep it as the driver made it.
		if hdr.Typeflag != tar.TypeDir {
			return errdefs.Invalid("layer tar: the root entry is not a directory")
		}
		return nil
	}
	base := path.Base(rel)
	if a.wo != WhiteoutNone {
		if aufsMeta(rel, base) {
			return nil
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			return a.whiteout(hdr, rel, base)
		}
	}
	a.tee = nil
	if a.onEntry != nil {
		a.tee = a.onEntry(rel, hdr)
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return errdefs.Invalid("layer tar: %s: unsupported entry type %q", rel, hdr.Typeflag)
	}
	pfd, err := a.dirFd(path.Dir(rel), true)
	if err != nil {
		return err
	}
	a.markUnpacked(rel)
	if hdr.Typeflag != tar.TypeDir {
		delete(a.dirTimes, rel)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(hdr, pfd, rel, base)
	case tar.TypeReg: // archive/tar reports the old '\x00' type as TypeReg
		return a.file(hdr, r, pfd, rel, base)
	case tar.TypeLink:
		return a.link(hdr, pfd, rel, base)
	case tar.TypeSymlink:
		err = a.create(pfd, rel, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) })
	default:
		mode := uint32(hdr.Mode) & 0o7777
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		err = a.create(pfd, rel, base, func() error { return unix.Mknodat(pfd, base, mode, int(dev)) })
	}
	if err != nil {
		return err
	}
	return a.attrs(hdr, pfd, rel, base)
}

// aufsMeta says whether rel is AUFS bookkeeping that old layers carry
// (.wh..wh.aufs, .wh..wh.plnk/...): skipped, as Docker does.
func aufsMeta(rel, base string) bool {
	if base == whiteoutOpaque {
		rel = path.Dir(rel)
	}
	return strings.HasPrefix(rel, whiteoutMeta) || strings.Contains(rel, "/"+whiteoutMeta)
}

// markUnpacked records rel and its parents as this layer's, so that an
// opaque marker later in the layer keeps them (WhiteoutApply only).
func (a *applier) markUnpacked(rel string) {
	if a.unpacked == nil {
		return
	}
	for p := rel; p != "."; p = path.Dir(p) {
		if _, ok := a.unpacked[p]; ok && p != rel {
			return
		}
		a.unpacked[p] = struct{}{}
	}
}

// create runs mk and, when the name is taken, removes what is there and
// runs it again: a later entry replaces an earlier one.
func (a *applier) create(pfd int, rel, base string, mk func() error) error {
	err := mk()
	if errors.Is(err, unix.EEXIST) {
		if err := a.removeAt(pfd, rel, base); err != nil {
			return err
		}
		err = mk()
	}
	if err != nil {
		return fmt.Errorf("layer tar: create %s: %w", rel, err)
	}
	return nil
}

func (a *applier) mkdir(hdr *tar.Header, pfd int, rel, base string) error {
	err := unix.Mkdirat(pfd, base, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("layer tar: %s: %w", rel, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := a.removeAt(pfd, rel, base); err != nil {
				return err
			}
			err = unix.Mkdirat(pfd, base, 0o700)
		} else {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("layer tar: create directory %s: %w", rel, err)
	}
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer tar: chown %s: %w", rel, err)
	}
	if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
		return fmt.Errorf("layer tar: chmod %s: %w", rel, err)
	}
	if err := a.xattrs(hdr, pfd, rel, base); err != nil {
		return err
	}
	a.dirTimes[rel] = times(hdr)
	return nil
}

func (a *applier) file(hdr *tar.Header, r io.Reader, pfd int, rel, base string) error {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(pfd, base, flags, 0o600)
	if errors.Is(err, unix.EEXIST) {
		if err := a.removeAt(pfd, rel, base); err != nil {
			return err
		}
		fd, err = unix.Openat(pfd, base, flags, 0o600)
	}
	if err != nil {
		return fmt.Errorf("layer tar: create %s: %w", rel, err)
	}
	werr := a.copyTo(fd, r, rel)
	if werr == nil {
		werr = a.fdAttrs(hdr, fd, rel)
	}
	if werr == nil {
		ts := times(hdr)
		if err := futimens(fd, &ts); err != nil {
			werr = fmt.Errorf("layer tar: set times of %s: %w", rel, err)
		}
	}
	if err := unix.Close(fd); err != nil && werr == nil {
		werr = fmt.Errorf("layer tar: close %s: %w", rel, err)
	}
	if werr != nil {
		return werr
	}
	a.size += hdr.Size
	return nil
}

// futimens sets the times of an open file: utimensat(fd, NULL, ts, 0),
// which x/sys does not wrap.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func (a *applier) copyTo(fd int, r io.Reader, rel string) error {
	for {
		n, rerr := r.Read(a.buf)
		if a.tee != nil && n > 0 {
			a.tee.Write(a.buf[:n])
		}
		for off := 0; off < n; {
			m, err := unix.Write(fd, a.buf[off:n])
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return fmt.Errorf("layer tar: write %s: %w", rel, err)
			}
			off += m
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return errdefs.Invalid("layer tar: read %s: %v", rel, truncated(rerr))
		}
	}
}

// fdAttrs sets owner, mode and xattrs of an open regular file. The owner
// first: chown clears setuid and setgid.
func (a *applier) fdAttrs(hdr *tar.Header, fd int, rel string) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("layer tar: chown %s: %w", rel, err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return fmt.Errorf("layer tar: chmod %s: %w", rel, err)
	}
	for name, value := range xattrsOf(hdr) {
		if err := unix.Fsetxattr(fd, name, []byte(value), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("layer tar: set xattr %s of %s: %w", name, rel, err)
		}
	}
	return nil
}

// attrs sets owner, mode, xattrs and times of a symlink, device or fifo
// just created at pfd/base, never following a symlink.
func (a *applier) attrs(hdr *tar.Header, pfd int, rel, base string) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer tar: chown %s: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// A node we just made, in a directory only we write: not a symlink.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return fmt.Errorf("layer tar: chmod %s: %w", rel, err)
		}
	}
	if err := a.xattrs(hdr, pfd, rel, base); err != nil {
		return err
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer tar: set times of %s: %w", rel, err)
	}
	return nil
}

// xattrs sets the entry's xattrs on pfd/base without following a symlink:
// through /proc/self/fd, which names the directory we hold open.
func (a *applier) xattrs(hdr *tar.Header, pfd int, rel, base string) error {
	xs := xattrsOf(hdr)
	if len(xs) == 0 {
		return nil
	}
	p := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
	for name, value := range xs {
		if err := unix.Lsetxattr(p, name, []byte(value), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("layer tar: set xattr %s of %s: %w", name, rel, err)
		}
	}
	return nil
}

// xattrsOf returns the entry's xattrs, leaving out the overlay's own: a
// layer must not forge redirects or opaque markers by xattr.
func xattrsOf(hdr *tar.Header) map[string]string {
	var xs map[string]string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok || name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		if xs == nil {
			xs = map[string]string{}
		}
		xs[name] = v
	}
	return xs
}

func (a *applier) link(hdr *tar.Header, pfd int, rel, base string) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return errdefs.Invalid("layer tar: hardlink %s: %v", rel, err)
	}
	if target == "." {
		return errdefs.Invalid("layer tar: hardlink %s to the layer's root", rel)
	}
	tfd, tbase, err := a.parent(target, false)
	if err != nil {
		return fmt.Errorf("layer tar: hardlink %s to %s: %w", rel, target, err)
	}
	if target == rel {
		return nil // a link to itself: already there
	}
	return a.create(pfd, rel, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) })
}

func (a *applier) whiteout(hdr *tar.Header, rel, base string) error {
	dirRel := path.Dir(rel)
	if base == whiteoutOpaque {
		if a.wo == WhiteoutOverlay {
			dfd, err := a.dirFd(dirRel, true)
			if err != nil {
				return err
			}
			fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("layer tar: opaque %s: %w", dirRel, err)
			}
			defer unix.Close(fd)
			if err := unix.Fsetxattr(fd, overlayOpaque, []byte("y"), 0); err != nil {
				return fmt.Errorf("layer tar: mark %s opaque: %w", dirRel, err)
			}
			return nil
		}
		return a.opaqueApply(dirRel)
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, whiteoutPrefix) {
		return errdefs.Invalid("layer tar: %s: bad whiteout", rel)
	}
	victim := path.Join(dirRel, name)
	if a.wo == WhiteoutOverlay {
		pfd, err := a.dirFd(dirRel, true)
		if err != nil {
			return err
		}
		delete(a.dirTimes, victim)
		if err := a.create(pfd, victim, name, func() error { return unix.Mknodat(pfd, name, unix.S_IFCHR, 0) }); err != nil {
			return err
		}
		if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("layer tar: chown whiteout %s: %w", victim, err)
		}
		ts := times(hdr)
		if err := unix.UtimesNanoAt(pfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("layer tar: set times of whiteout %s: %w", victim, err)
		}
		return nil
	}
	pfd, err := a.dirFd(dirRel, false)
	if err != nil {
		if errdefs.IsInvalidArgument(err) {
			return err
		}
		return nil // nothing there to delete
	}
	err = a.removeAt(pfd, victim, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// opaqueApply empties dirRel of what earlier layers put in it, at any
// depth, keeping what this layer unpacked (entries and their parents), as
// overlayfs would show it.
func (a *applier) opaqueApply(dirRel string) error {
	dfd, err := a.dirFd(dirRel, true)
	if err != nil {
		return err
	}
	a.markUnpacked(dirRel)
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("layer tar: opaque %s: %w", dirRel, err)
	}
	f := os.NewFile(uintptr(fd), dirRel)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("layer tar: opaque %s: %w", dirRel, err)
	}
	for _, n := range names {
		child := path.Join(dirRel, n)
		if _, ours := a.unpacked[child]; !ours {
			if err := a.removeAt(dfd, child, n); err != nil && !errors.Is(err, unix.ENOENT) {
				return err
			}
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := a.opaqueApply(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeAt removes pfd/base (rel from the root), a directory with all it
// holds, without following symlinks.
func (a *applier) removeAt(pfd int, rel, base string) error {
	a.forget(rel)
	if err := removeAll(pfd, base); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return err
		}
		return fmt.Errorf("layer tar: remove %s: %w", rel, err)
	}
	return nil
}

func removeAll(pfd int, name string) error {
	err := unix.Unlinkat(pfd, name, 0)
	if err == nil || !(errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM)) {
		return err
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		if err := removeAll(fd, n); err != nil && !errors.Is(err, unix.ENOENT) {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
}

// truncated names the usual cause of an unexpected EOF.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated stream (unexpected EOF)")
	}
	return err
}

// times returns the atime and mtime of an entry: the PAX atime when the
// tar has one, the mtime otherwise.
func times(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{toTimespec(at), toTimespec(hdr.ModTime)}
}

func toTimespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{}
	}
	// Seconds and nanoseconds apart: UnixNano overflows outside 1678-2262.
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}
