package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

func cpCommand() *cli.Command {
	return &cli.Command{
		Name:  "cp",
		Usage: "Copy files/folders between a container and the local filesystem",
		ArgsUsage: "CONTAINER:SRC_PATH DEST_PATH|-\n" +
			"   xmgr cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "archive mode (copy all uid/gid information)"},
			&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "always follow symbol link in SRC_PATH"},
		},
		Action: runCp,
	}
}

// cpEnd is one side of a copy: a path in a container, or a local path
// (container "") where "-" is a tar on stdin or stdout.
type cpEnd struct {
	container, path string
}

// parseCpEnd splits "CONTAINER:PATH". A path that is absolute, or starts
// with "." before its colon ("./a:b"), is local, as with Docker.
func parseCpEnd(arg string) cpEnd {
	if filepath.IsAbs(arg) {
		return cpEnd{path: arg}
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return cpEnd{path: arg}
	}
	return cpEnd{container: ctr, path: p}
}

// parseCpArgs checks cp's two arguments. Like Docker, a wrong pair is a
// plain error (exit 1), not a usage error.
func parseCpArgs(src, dst string) (cpEnd, cpEnd, error) {
	s, d := parseCpEnd(src), parseCpEnd(dst)
	switch {
	case s.path == "":
		return s, d, errors.New("source can not be empty")
	case d.path == "":
		return s, d, errors.New("destination can not be empty")
	case s.container != "" && d.container != "":
		return s, d, errors.New("copying between containers is not supported")
	case s.container == "" && d.container == "":
		return s, d, errors.New("must specify at least one container source")
	case s.container != "" && s.path == "-":
		return s, d, errors.New(`the source of a copy from a container cannot be "-"`)
	case d.container != "" && d.path == "-":
		return s, d, errors.New(`the destination of a copy to a container cannot be "-"`)
	}
	return s, d, nil
}

func runCp(c *cli.Context) error {
	if err := exactArgs(c, 2); err != nil {
		return err
	}
	src, dst, err := parseCpArgs(c.Args().Get(0), c.Args().Get(1))
	if err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	ctr := src
	if src.container != "" {
		err = copyFromContainer(c, cl, src, dst.path)
	} else {
		ctr = dst
		err = copyToContainer(c, cl, src.path, dst)
	}
	var de *client.Error
	if errors.As(err, &de) && errdefs.IsNotFound(err) {
		// Docker's words for a missing container or path.
		return fmt.Errorf("Error: No such container:path: %s:%s", ctr.container, ctr.path)
	}
	if err != nil {
		return errors.New(daemonError(err))
	}
	return nil
}

// contentsOnly reports whether p ends with "/.": copy what is in the
// directory, not the directory.
func contentsOnly(p string) bool {
	return p == "." || strings.HasSuffix(p, "/.")
}

// copyFromContainer copies src out of the container to the local path
// dst (or as a tar to stdout for "-").
func copyFromContainer(c *cli.Context, cl *client.Client, src cpEnd, dst string) error {
	ctx := c.Context
	srcPath := src.path
	if c.Bool("follow-link") {
		st, err := cl.ContainerStatPath(ctx, src.container, srcPath)
		if err != nil {
			return err
		}
		if fs.FileMode(st.Mode)&fs.ModeSymlink != 0 && st.LinkTarget != "" {
			srcPath = st.LinkTarget
			if !path.IsAbs(srcPath) {
				srcPath = path.Join(path.Dir(src.path), srcPath)
			}
		}
	}
	rc, st, err := cl.CopyFromContainer(ctx, src.container, srcPath)
	if err != nil {
		return err
	}
	defer rc.Close()
	if dst == "-" {
		_, err := io.Copy(os.Stdout, rc)
		return err
	}
	isDir := fs.FileMode(st.Mode).IsDir()
	contents := isDir && tarPrefix(src.path) == ""
	dir, top, err := localTarget(dst, path.Base(path.Clean(src.path)), isDir, contents)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rebaseTar(pw, rc, replaceTop(tarPrefix(srcPath), top))) }()
	_, err = archive.Apply(dir, pr, archive.WhiteoutOverlay)
	pr.CloseWithError(err)
	return err
}

// localTarget applies Docker's cp rules to a local destination: the
// directory to unpack into and the name the copied file or directory
// gets there ("" when a directory's contents go straight into it).
func localTarget(dst, srcBase string, srcIsDir, srcContents bool) (dir, top string, err error) {
	st, err := os.Stat(dst)
	switch {
	case err == nil && st.IsDir():
		if srcContents {
			return dst, "", nil
		}
		return dst, srcBase, nil
	case err == nil:
		if srcIsDir {
			return "", "", fmt.Errorf("cannot copy a directory to a file: %s", dst)
		}
		return filepath.Dir(dst), filepath.Base(dst), nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", err
	}
	if strings.HasSuffix(dst, "/") && !srcIsDir {
		return "", "", fmt.Errorf("destination directory %s does not exist", dst)
	}
	clean := filepath.Clean(dst)
	parent := filepath.Dir(clean)
	if st, err := os.Stat(parent); err != nil || !st.IsDir() {
		return "", "", fmt.Errorf("destination directory %s does not exist", parent)
	}
	return parent, filepath.Base(clean), nil
}

// copyToContainer copies the local path src (a tar on stdin for "-")
// into the container.
func copyToContainer(c *cli.Context, cl *client.Client, src string, dst cpEnd) error {
	ctx := c.Context
	opts := client.CopyToContainerOptions{CopyUIDGID: c.Bool("archive")}

	// Docker follows a symlink at the destination.
	dstPath := dst.path
	st, err := cl.ContainerStatPath(ctx, dst.container, dstPath)
	exists := err == nil
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if exists && fs.FileMode(st.Mode)&fs.ModeSymlink != 0 && st.LinkTarget != "" {
		dstPath = st.LinkTarget
		if !path.IsAbs(dstPath) {
			dstPath = path.Join(path.Dir(dst.path), dstPath)
		}
		st, err = cl.ContainerStatPath(ctx, dst.container, dstPath)
		exists = err == nil
		if err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	dstIsDir := exists && fs.FileMode(st.Mode).IsDir()

	if src == "-" {
		if !dstIsDir {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", dst.container, dst.path)
		}
		return cl.CopyToContainer(ctx, dst.container, dstPath, os.Stdin, opts)
	}

	if strings.HasSuffix(src, "/") && !contentsOnly(src) {
		if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", src)
		}
	}
	root := filepath.Clean(src)
	info, err := os.Lstat(root)
	if err == nil && c.Bool("follow-link") && info.Mode()&fs.ModeSymlink != 0 {
		if root, err = filepath.EvalSymlinks(root); err == nil {
			info, err = os.Lstat(root)
		}
	}
	if err != nil {
		return err
	}

	var dir, top string
	switch {
	case dstIsDir && info.IsDir() && contentsOnly(src):
		dir, top = dstPath, ""
	case dstIsDir:
		dir, top = dstPath, filepath.Base(filepath.Clean(src))
	case exists && info.IsDir():
		return fmt.Errorf("cannot copy a directory to a file: %s:%s", dst.container, dst.path)
	case !exists && strings.HasSuffix(dst.path, "/") && !info.IsDir():
		return fmt.Errorf("destination directory %s:%s does not exist", dst.container, dst.path)
	default:
		clean := path.Clean(dstPath)
		dir, top = path.Dir(clean), path.Base(clean)
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTree(pw, root, info, top)) }()
	err = cl.CopyToContainer(ctx, dst.container, dir, pr, opts)
	pr.CloseWithError(err)
	return err
}

// writeTree writes the file or directory root as a tar whose entries are
// named under top ("" for a directory's contents only).
func writeTree(w io.Writer, root string, _ fs.FileInfo, top string) error {
	if top == "" {
		top = "/"
	}
	return archive.TarPath(w, root, top)
}

// rebaseTar copies the tar r to w with every entry renamed by rename;
// entries it drops (false) are left out.
func rebaseTar(w io.Writer, r io.Reader, rename func(string) (string, bool)) error {
	tw := tar.NewWriter(w)
	if err := copyEntries(tw, r, rename); err != nil {
		return err
	}
	return tw.Close()
}

// copyEntries copies the entries of the tar r into tw, renamed (hardlink
// targets too).
func copyEntries(tw *tar.Writer, r io.Reader, rename func(string) (string, bool)) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name, ok := rename(hdr.Name)
		if !ok {
			continue
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, ok = rename(hdr.Linkname); !ok {
				continue
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// tarPrefix is the name the daemon gives the top of its archive of p:
// p's last element, or none when p names a directory's contents ("dir/."
// or "/").
func tarPrefix(p string) string {
	if contentsOnly(p) || path.Clean("/"+p) == "/" {
		return ""
	}
	return path.Base(path.Clean(p))
}

// replaceTop renames the archive's top entry, prefix ("" when the
// entries are a directory's contents), to top; with top "" the top entry
// is dropped and its contents move up. Entries outside prefix are
// dropped, and names are cleaned first so that none climbs out.
func replaceTop(prefix, top string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		rest := strings.TrimPrefix(path.Clean("/"+name), "/")
		if prefix != "" {
			r, ok := strings.CutPrefix(rest, prefix+"/")
			switch {
			case ok:
				rest = r
			case rest == prefix:
				rest = ""
			default:
				return "", false
			}
		}
		switch {
		case top == "" && rest == "":
			return "", false
		case top == "":
			return rest, true
		case rest == "":
			return top, true
		}
		return top + "/" + rest, true
	}
}
