package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Tar writes dir as a tar stream: every entry below dir (not dir itself) in
// lexical order, names relative, mtimes to the second, owners as numbers,
// xattrs as PAX records, hardlinks within dir as links to the first name.
// Overlay whiteouts (0/0 character devices, trusted.overlay.opaque=y) are
// written as ".wh." entries, so a snapshot's upper directory becomes a
// layer. The same tree always gives the same bytes.
func Tar(w io.Writer, dir string) error {
	return writeTar(w, dir, false)
}

// Copy copies the tree src into the existing directory dst with
// everything Apply keeps, times to the nanosecond (the native driver's
// snapshot copy). Character devices 0/0 stay devices.
func Copy(dst, src string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, src, true)) }()
	_, err := Apply(dst, pr, WhiteoutApply)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// writeTar writes dir as a tar; exact keeps nanoseconds and atimes, and
// 0/0 devices as they are.
func writeTar(w io.Writer, dir string, exact bool) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	buf := make([]byte, 256<<10)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("tar %s: %w", p, err)
		}
		hdr, err := header(p, rel, &st, exact)
		if err != nil {
			return err
		}
		if hdr == nil {
			return nil
		}
		// A whiteout (a 0/0 device, written as a ".wh." file) is no hardlink
		// even though overlayfs may link every whiteout to one inode.
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", p, err)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("tar %s: %w", p, err)
			}
			n, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
			f.Close()
			if err != nil {
				return fmt.Errorf("tar %s: %w", p, err)
			}
			if n != hdr.Size {
				return fmt.Errorf("tar %s: file shrank while being read", p)
			}
		}
		if !exact && hdr.Typeflag == tar.TypeDir && opaque(p) {
			return tw.WriteHeader(&tar.Header{
				Name: rel + "/" + whiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o644,
				ModTime: hdr.ModTime, Uid: hdr.Uid, Gid: hdr.Gid,
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// header describes the file at p (named rel in the tar); nil skips it.
func header(p, rel string, st *unix.Stat_t, exact bool) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
	}
	if exact {
		hdr.Format = tar.FormatPAX
		hdr.ModTime = time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
		hdr.AccessTime = time.Unix(st.Atim.Sec, st.Atim.Nsec)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return nil, fmt.Errorf("tar %s: %w", p, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev)
		if !exact && st.Mode&unix.S_IFMT == unix.S_IFCHR && major == 0 && minor == 0 {
			// An overlay whiteout.
			dir, base := filepath.Split(rel)
			return &tar.Header{Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg,
				ModTime: hdr.ModTime, Uid: hdr.Uid, Gid: hdr.Gid}, nil
		}
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(major), int64(minor)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil // sockets: not part of an image
	}
	xs, err := listXattrs(p)
	if err != nil {
		return nil, fmt.Errorf("tar %s: %w", p, err)
	}
	for k, v := range xs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	return hdr, nil
}

// listXattrs reads the xattrs of p (not following a symlink), leaving out
// overlay's own.
func listXattrs(p string) (map[string]string, error) {
	buf := make([]byte, 1024)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Llistxattr(p, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Llistxattr(p, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		val := make([]byte, 256)
		m, err := unix.Lgetxattr(p, name, val)
		if errors.Is(err, unix.ERANGE) {
			if m, err = unix.Lgetxattr(p, name, nil); err == nil {
				val = make([]byte, m)
				m, err = unix.Lgetxattr(p, name, val)
			}
		}
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", name, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = string(val[:m])
	}
	return out, nil
}

func opaque(p string) bool {
	val := make([]byte, 4)
	n, err := unix.Lgetxattr(p, overlayOpaque, val)
	return err == nil && string(val[:n]) == "y"
}
