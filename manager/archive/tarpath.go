package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// TarPath writes src (not following a symlink at src or below) as a tar
// whose entries are named name, name/child... ("/" names a directory's
// contents without the directory itself), with owners as numbers only and
// hardlinks kept: docker cp's archives.
func TarPath(w io.Writer, src, name string) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		entry := path.Join(name, filepath.ToSlash(rel))
		if name == "/" {
			entry = strings.TrimPrefix(entry, "/")
			if entry == "" {
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return WriteEntry(tw, p, entry, fi, links)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// WriteEntry writes the file p (described by fi, not followed) as the
// tar entry name; a regular file with several links already written
// under another name becomes a hardlink to it (links may be nil).
func WriteEntry(tw *tar.Writer, p, name string, fi fs.FileInfo, links map[[2]uint64]string) error {
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // not a file to copy
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("tar %s: %w", name, err)
	}
	hdr.Name = name
	hdr.Uname, hdr.Gname = "", ""
	if fi.IsDir() {
		hdr.Name += "/"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		if links != nil && fi.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = name
			}
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(tw, io.LimitReader(f, hdr.Size)); err != nil {
			return err
		}
	}
	return nil
}
