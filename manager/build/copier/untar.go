package copier

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/archive"
)

// isArchive reports whether the file at p is a tar, plain or compressed
// with gzip, bzip2 or xz: by content, as Docker decides (its first header
// reads).
func isArchive(p string) bool {
	r, err := openArchive(p)
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = tar.NewReader(r).Next()
	return err == nil
}

// untar unpacks the archive file p into target, which exists: owners,
// modes and times from the archive, existing files replaced, existing
// directories merged, whiteout names not special. Paths in it stay inside
// target, as in Docker's chrooted untar.
func (w *writer) untar(rootfs, target, p string) error {
	r, err := openArchive(p)
	if err != nil {
		return err
	}
	defer r.Close()
	t := newTree(rootfs, target)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive %s: %w", path.Base(p), err)
		}
		if err := w.ctx.Err(); err != nil {
			return err
		}
		rel := tarName(hdr.Name)
		if rel == "" {
			continue // the archive's root: target keeps its own attributes
		}
		e := &entry{
			rel:   rel,
			typ:   hdr.Typeflag,
			mode:  uint32(hdr.Mode) & 07777,
			uid:   hdr.Uid,
			gid:   hdr.Gid,
			mtime: hdr.ModTime,
			link:  hdr.Linkname,
			rdev:  unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)),
			body:  tr,
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			e.typ = tar.TypeReg
		case tar.TypeLink:
			e.link = tarName(hdr.Linkname)
			if e.link == "" {
				return fmt.Errorf("hardlink %s in archive %s has no target", hdr.Name, path.Base(p))
			}
		case tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			continue // pax headers and the like carry no file
		}
		for k, v := range hdr.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if e.xattrs == nil {
					e.xattrs = map[string]string{}
				}
				e.xattrs[x] = v
			}
		}
		if err := t.write(e); err != nil {
			return err
		}
	}
	return t.finish()
}

// tarName cleans an archive member's name to a path below the archive's
// root ("" for the root); ".." cannot climb above it.
func tarName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// openArchive opens p decompressed (gzip, bzip2, xz through the xz
// command as Docker does, or plain).
func openArchive(p string) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(6)
	switch archive.Detect(head) {
	case archive.Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
	case archive.Bzip2:
		return &readCloser{Reader: bzip2.NewReader(br), close: f.Close}, nil
	case archive.Xz:
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, "xz", "-d", "-c", "-q")
		cmd.Stdin = br
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			cancel()
			f.Close()
			return nil, fmt.Errorf("decompress %s with xz: %w", path.Base(p), err)
		}
		return &readCloser{Reader: out, close: func() error {
			cancel()
			cmd.Wait()
			return f.Close()
		}}, nil
	}
	return &readCloser{Reader: br, close: f.Close}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
