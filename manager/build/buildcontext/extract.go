package buildcontext

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Parent directories are resolved under the root with no symlink on the
// way: an entry may not go through a symlink that an earlier one made.
var beneath = unix.OpenHow{
	Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
}

const maxCachedDirs = 512

type dirMeta struct {
	mode uint32
	ts   [2]unix.Timespec
}

// extractor unpacks a context tar under root, hashing regular files on
// the way through its hasher.
type extractor struct {
	root   int
	dirs   map[string]int // relative directory -> O_PATH fd
	meta   map[string]dirMeta
	h      *hasher
	asRoot bool
}

// extract unpacks the tar r into the existing directory root and returns
// the BLAKE3 digest of every regular file by its slash path.
func extract(ctx context.Context, r io.Reader, root string) (map[string]string, error) {
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	x := &extractor{
		root:   rootFd,
		dirs:   map[string]int{},
		meta:   map[string]dirMeta{},
		h:      newHasher(),
		asRoot: os.Geteuid() == 0,
	}
	err = x.run(ctx, r)
	sums := x.h.finish()
	x.dropDirs()
	unix.Close(rootFd)
	if err != nil {
		return nil, err
	}
	return sums, nil
}

func (x *extractor) run(ctx context.Context, r io.Reader) error {
	er := &eofReader{r: r}
	tr := tar.NewReader(er)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if er.eof && er.zeros < 512 {
				// archive/tar takes a stream that stops between entries
				// as complete; a tar ends with zero blocks.
				return errdefs.Invalid("build context: truncated tar (no end-of-archive marker)")
			}
			break
		}
		if err != nil {
			return errdefs.Invalid("build context: %v", truncated(err))
		}
		if len(x.dirs) > maxCachedDirs {
			x.dropDirs()
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	return x.finishDirs()
}

// eofReader records whether the stream ran out, and how many zero bytes
// it ended with: a complete tar ends with at least one zero block.
type eofReader struct {
	r     io.Reader
	eof   bool
	zeros int
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	i := n
	for i > 0 && p[i-1] == 0 {
		i--
	}
	if i > 0 {
		e.zeros = n - i
	} else {
		e.zeros += n
	}
	if errors.Is(err, io.EOF) {
		e.eof = true
	}
	return n, err
}

// entryName returns the entry's clean path relative to the root ("" for
// the root itself). A leading "/" is dropped, as tar does; a name that
// climbs out with ".." is refused.
func entryName(name string) (string, error) {
	if name == "" {
		return "", errdefs.Invalid("build context: a tar entry with an empty name")
	}
	c := path.Clean(strings.TrimLeft(name, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errdefs.Invalid("build context: tar entry %q: path escapes the context", name)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		return nil // the root is ours: keep it as made
	}
	pfd, err := x.dir(path.Dir(rel), true)
	if err != nil {
		return err
	}
	base := path.Base(rel)
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(hdr, pfd, rel, base)
	case tar.TypeReg, '\x00', tar.TypeGNUSparse:
		return x.file(hdr, r, pfd, rel, base)
	case tar.TypeLink:
		return x.link(hdr, pfd, rel, base)
	case tar.TypeSymlink:
		if err := x.create(pfd, rel, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode) & 0o7777
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		err := x.create(pfd, rel, base, func() error { return unix.Mknodat(pfd, base, mode, dev) })
		if errors.Is(err, unix.EPERM) {
			return nil // not root: a device is left out, as in a user namespace
		}
		if err != nil {
			return err
		}
		if err := unix.Fchmodat(pfd, base, mode&0o7777, 0); err != nil {
			return fmt.Errorf("build context: chmod %s: %w", rel, err)
		}
	default:
		return errdefs.Invalid("build context: %s: unhandled tar header type %d", rel, hdr.Typeflag)
	}
	if x.asRoot {
		if err := unix.Fchownat(pfd, base, 0, 0, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("build context: chown %s: %w", rel, err)
		}
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("build context: set times of %s: %w", rel, err)
	}
	return nil
}

// dir returns an O_PATH fd of the directory rel, making it and its
// parents (0755) when missing and create is set.
func (x *extractor) dir(rel string, create bool) (int, error) {
	if rel == "." {
		return x.root, nil
	}
	if fd, ok := x.dirs[rel]; ok {
		return fd, nil
	}
	how := beneath
	fd, err := unix.Openat2(x.root, rel, &how)
	if errors.Is(err, unix.ENOENT) && create {
		pfd, perr := x.dir(path.Dir(rel), true)
		if perr != nil {
			return -1, perr
		}
		if err := unix.Mkdirat(pfd, path.Base(rel), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("build context: create %s: %w", rel, err)
		}
		fd, err = unix.Openat2(x.root, rel, &how)
	}
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return -1, errdefs.Invalid("build context: %s: refusing a path through a symlink", rel)
	case errors.Is(err, unix.ENOTDIR):
		return -1, errdefs.Invalid("build context: %s is not a directory", rel)
	case err != nil:
		return -1, fmt.Errorf("build context: open %s: %w", rel, err)
	}
	x.dirs[rel] = fd
	return fd, nil
}

func (x *extractor) dropDirs() {
	for k, fd := range x.dirs {
		unix.Close(fd)
		delete(x.dirs, k)
	}
}

// create runs mk; when the name is taken, what is there goes first: a
// later entry replaces an earlier one.
func (x *extractor) create(pfd int, rel, base string, mk func() error) error {
	err := mk()
	if errors.Is(err, unix.EEXIST) {
		if err := x.remove(pfd, rel, base); err != nil {
			return err
		}
		err = mk()
	}
	if err != nil {
		return fmt.Errorf("build context: create %s: %w", rel, err)
	}
	return nil
}

// remove deletes pfd/base (rel), a directory with all it holds, and
// forgets what was known of it.
func (x *extractor) remove(pfd int, rel, base string) error {
	prefix := rel + "/"
	for k, fd := range x.dirs {
		if k == rel || strings.HasPrefix(k, prefix) {
			unix.Close(fd)
			delete(x.dirs, k)
		}
	}
	for k := range x.meta {
		if k == rel || strings.HasPrefix(k, prefix) {
			delete(x.meta, k)
		}
	}
	x.h.remove(rel)
	if err := removeAt(pfd, base); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("build context: remove %s: %w", rel, err)
	}
	return nil
}

func (x *extractor) mkdir(hdr *tar.Header, pfd int, rel, base string) error {
	err := unix.Mkdirat(pfd, base, 0o755)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("build context: %s: %w", rel, err)
		}
		err = nil
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := x.remove(pfd, rel, base); err != nil {
				return err
			}
			err = unix.Mkdirat(pfd, base, 0o755)
		}
	}
	if err != nil {
		return fmt.Errorf("build context: create directory %s: %w", rel, err)
	}
	if x.asRoot {
		if err := unix.Fchownat(pfd, base, 0, 0, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("build context: chown %s: %w", rel, err)
		}
	}
	// Mode and times last: writing its contents would move the times, and
	// a read-only mode would stop them (for a caller that is not root).
	x.meta[rel] = dirMeta{mode: uint32(hdr.Mode) & 0o7777, ts: times(hdr)}
	return nil
}

// finishDirs sets the directories' modes and times, deepest first.
func (x *extractor) finishDirs() error {
	rels := make([]string, 0, len(x.meta))
	for rel := range x.meta {
		rels = append(rels, rel)
	}
	sort.Slice(rels, func(i, j int) bool { return strings.Count(rels[i], "/") > strings.Count(rels[j], "/") })
	x.dropDirs() // modes may close directories to us from here on
	for _, rel := range rels {
		m := x.meta[rel]
		pfd, err := x.dir(path.Dir(rel), false)
		if err != nil {
			return err
		}
		base := path.Base(rel)
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if err := unix.Fchmodat(pfd, base, m.mode, 0); err != nil {
			return fmt.Errorf("build context: chmod %s: %w", rel, err)
		}
		if err := unix.UtimesNanoAt(pfd, base, m.ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("build context: set times of %s: %w", rel, err)
		}
	}
	return nil
}

func (x *extractor) file(hdr *tar.Header, r io.Reader, pfd int, rel, base string) error {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	var fd int
	err := x.create(pfd, rel, base, func() error {
		var err error
		fd, err = unix.Openat(pfd, base, flags, 0o600)
		return err
	})
	if err != nil {
		return err
	}
	werr := x.h.copy(fd, r, rel)
	if werr == nil && x.asRoot {
		// The owner before the mode: chown clears setuid and setgid.
		if err := unix.Fchown(fd, 0, 0); err != nil {
			werr = fmt.Errorf("build context: chown %s: %w", rel, err)
		}
	}
	if werr == nil {
		if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
			werr = fmt.Errorf("build context: chmod %s: %w", rel, err)
		}
	}
	if werr == nil {
		setXattrs(fd, hdr)
		ts := times(hdr)
		if err := futimens(fd, &ts); err != nil {
			werr = fmt.Errorf("build context: set times of %s: %w", rel, err)
		}
	}
	if err := unix.Close(fd); err != nil && werr == nil {
		werr = fmt.Errorf("build context: close %s: %w", rel, err)
	}
	return werr
}

// setXattrs keeps the xattrs Docker's CLI sends (file capabilities) and
// the user namespace; best effort, as Docker does.
func setXattrs(fd int, hdr *tar.Header) {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if ok && (name == "security.capability" || strings.HasPrefix(name, "user.")) {
			_ = unix.Fsetxattr(fd, name, []byte(v), 0)
		}
	}
}

func (x *extractor) link(hdr *tar.Header, pfd int, rel, base string) error {
	target, err := entryName(hdr.Linkname)
	if err != nil {
		return errdefs.Invalid("build context: hardlink %s: %v", rel, err)
	}
	if target == "" {
		return errdefs.Invalid("build context: hardlink %s to the context's root", rel)
	}
	if target == rel {
		return nil
	}
	tfd, err := x.dir(path.Dir(target), false)
	if err != nil {
		return errdefs.Invalid("build context: hardlink %s to %s: %v", rel, target, err)
	}
	tbase := path.Base(target)
	if err := x.create(pfd, rel, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) }); err != nil {
		return err
	}
	x.h.link(rel, target)
	return nil
}

func removeAt(pfd int, name string) error {
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
	if err == nil {
		for _, n := range names {
			if err = removeAt(fd, n); err != nil && !errors.Is(err, unix.ENOENT) {
				break
			}
			err = nil
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
}

// truncated names the usual cause of an unexpected EOF.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated tar (unexpected EOF)")
	}
	return err
}

func times(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// futimens sets the times of an open file (utimensat with a NULL path).
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
