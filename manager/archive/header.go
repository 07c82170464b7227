package archive

import (
	"archive/tar"

	"golang.org/x/sys/unix"
)

// Header describes the file at p (lstat'ed into st) as Tar writes it under
// name: mtime to the second, owners as numbers, xattrs as PAX records, an
// overlay whiteout (a 0/0 character device) as a ".wh." entry. It is nil
// for a socket. The caller writes a regular file's body and handles
// hardlinks (st.Nlink) and opaque directories itself.
func Header(p, name string, st *unix.Stat_t) (*tar.Header, error) {
	return header(p, name, st, false)
}

// RemoveAllAt removes name, a directory with all it holds, from the open
// directory pfd without following a symlink.
func RemoveAllAt(pfd int, name string) error { return removeAll(pfd, name) }
