package buildcontext

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"
)

// ReadIgnore returns the patterns of dir/.dockerignore (none when it is
// missing), read as Docker's CLI reads them.
func ReadIgnore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("error reading .dockerignore: %w", err)
	}
	return patterns, nil
}

// Tar writes the build context dir to w as Docker's CLI sends it: every
// file not excluded by .dockerignore, in lexical order, owners 0:0,
// mtimes to the second; .dockerignore and the Dockerfile always go.
//
// dockerfile is the -f value: "" for dir's Dockerfile (or dockerfile),
// otherwise a path as the user gave it (relative to the working
// directory, as docker build -f). It returns the Dockerfile's path in the
// context, the API's dockerfile parameter. A Dockerfile outside dir is
// added under a random name that .dockerignore then excludes, so the
// daemon drops it from the context once read.
func Tar(dir, dockerfile string, w io.Writer) (dockerfileInContext string, err error) {
	root, err := contextRoot(dir)
	if err != nil {
		return "", err
	}
	rel, err := dockerfileRel(root, dockerfile)
	if err != nil {
		return "", err
	}
	var data []byte
	if rel == ".." || strings.HasPrefix(rel, "../") {
		if data, err = os.ReadFile(dockerfile); err != nil {
			return "", fmt.Errorf("unable to open Dockerfile: %w", err)
		}
	}
	return writeContext(root, rel, data, DockerfileName(), w)
}

// DockerfileName returns a new random name for a Dockerfile added to a
// context from elsewhere (".dockerfile." and 20 hex digits, as Docker's
// CLI names it).
func DockerfileName() string {
	return ".dockerfile." + randomHex(10)
}

// TarWithDockerfile is Tar for a Dockerfile that is not in dir (a file
// elsewhere, or `-f -` read from stdin): its content is added as name
// (from DockerfileName), which .dockerignore then excludes. Knowing the
// name first lets the caller stream the tar. A Dockerfile in dir gets no
// special treatment.
func TarWithDockerfile(dir string, dockerfile []byte, name string, w io.Writer) error {
	if name == "" || name == "." || name == ".." || name == ".dockerignore" || strings.Contains(name, "/") {
		return fmt.Errorf("invalid name for the Dockerfile in the context: %q", name)
	}
	root, err := contextRoot(dir)
	if err != nil {
		return err
	}
	if dockerfile == nil {
		dockerfile = []byte{}
	}
	_, err = writeContext(root, "", dockerfile, name, w)
	return err
}

// writeContext writes the context root; rel is the Dockerfile's path in
// it, or extra (not nil) the content of one from elsewhere, added as
// extraName.
func writeContext(root, rel string, extra []byte, extraName string, w io.Writer) (string, error) {
	excludes, err := ReadIgnore(root)
	if err != nil {
		return "", err
	}
	excludes = keepBuildFiles(excludes, rel)
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return "", fmt.Errorf("invalid .dockerignore: %w", err)
	}
	t := &tarWriter{tw: tar.NewWriter(w), pm: pm, links: map[[2]uint64]string{}, buf: make([]byte, 256<<10)}
	if extra != nil {
		t.extraName = extraName
	}
	if err := t.walk(root, "", patternmatcher.MatchInfo{}); err != nil {
		return "", err
	}
	if extra != nil {
		if err := t.addOutside(extra); err != nil {
			return "", err
		}
		rel = t.extraName
	}
	if err := t.tw.Close(); err != nil {
		return "", err
	}
	return rel, nil
}

func contextRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("unable to get absolute context directory of given context directory %q: %w", dir, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in context path: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("unable to stat context directory %q: %w", abs, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("context must be a directory: %s", abs)
	}
	return abs, nil
}

// dockerfileRel returns the Dockerfile's slash path relative to root
// ("../..." when outside), as Docker's CLI finds it.
func dockerfileRel(root, given string) (string, error) {
	abs := given
	if abs == "" {
		abs = filepath.Join(root, DefaultDockerfile)
		if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
			lower := filepath.Join(root, strings.ToLower(DefaultDockerfile))
			if _, err := os.Lstat(lower); err == nil {
				abs = lower
			}
		}
	}
	abs, err := filepath.Abs(abs)
	if err != nil {
		return "", err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in Dockerfile path: %w", err)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return "", fmt.Errorf("unable to get relative Dockerfile path: %w", err)
	}
	return filepath.ToSlash(rel), nil
}

// keepBuildFiles adds exceptions so that .dockerignore and the Dockerfile
// are sent even when excluded: the daemon reads them, then drops them.
func keepBuildFiles(excludes []string, dockerfile string) []string {
	if len(excludes) == 0 {
		return excludes
	}
	if ex, _ := patternmatcher.MatchesOrParentMatches(".dockerignore", excludes); ex {
		excludes = append(excludes, "!.dockerignore")
	}
	if dockerfile == "" {
		return excludes
	}
	if ex, _ := patternmatcher.MatchesOrParentMatches(dockerfile, excludes); ex {
		excludes = append(excludes, "!"+dockerfile)
	}
	return excludes
}

type tarWriter struct {
	tw        *tar.Writer
	pm        *patternmatcher.PatternMatcher
	links     map[[2]uint64]string
	buf       []byte
	extraName string // the outside Dockerfile's name in the tar, if any
	ignoreOut bool   // .dockerignore written (with extraName added)
}

// walk writes the entries under abs (rel in the tar), skipping excluded
// directories unless an exception pattern may match inside them.
func (t *tarWriter) walk(abs, rel string, parent patternmatcher.MatchInfo) error {
	entries, err := os.ReadDir(abs) // sorted by name
	if err != nil {
		return fmt.Errorf("error checking context: %w", err)
	}
	for _, e := range entries {
		childRel := e.Name()
		if rel != "" {
			childRel = rel + "/" + e.Name()
		}
		childAbs := abs + "/" + e.Name()
		excluded, info, err := t.pm.MatchesUsingParentResults(childRel, parent)
		if err != nil {
			return fmt.Errorf("error matching %s: %w", childRel, err)
		}
		isDir := e.IsDir()
		if excluded {
			if isDir && t.exceptionUnder(childRel) {
				// The directory itself is not sent; what the exception
				// keeps inside is.
				if err := t.walk(childAbs, childRel, info); err != nil {
					return err
				}
			}
			continue
		}
		if err := t.add(childAbs, childRel); err != nil {
			return err
		}
		if isDir {
			if err := t.walk(childAbs, childRel, info); err != nil {
				return err
			}
		}
	}
	return nil
}

// exceptionUnder says whether an exception pattern starts with dir/: the
// test Docker's CLI uses before skipping an excluded directory.
func (t *tarWriter) exceptionUnder(dir string) bool {
	if !t.pm.Exclusions() {
		return false
	}
	for _, p := range t.pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

func (t *tarWriter) add(p, rel string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return fmt.Errorf("error checking context: can't stat '%s': %w", p, err)
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		ModTime: time.Unix(st.Mtim.Sec, 0),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := t.links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				t.links[key] = rel
			}
		}
		if caps, ok := fileCaps(p); ok {
			hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": caps}
		}
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("error checking context: %w", err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets cannot be sent
	}
	if rel == ".dockerignore" && t.extraName != "" && hdr.Typeflag == tar.TypeReg {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("error checking context: %w", err)
		}
		data = append(data, "\n"+t.extraName+"\n"...)
		hdr.Size = int64(len(data))
		t.ignoreOut = true
		return t.writeData(hdr, data)
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar %s: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("error checking context: no permission to read from '%s': %w", p, err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, hdr.Size), t.buf)
	if err != nil {
		return fmt.Errorf("tar %s: %w", rel, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("tar %s: file shrank while being read", rel)
	}
	return nil
}

func (t *tarWriter) writeData(hdr *tar.Header, data []byte) error {
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar %s: %w", hdr.Name, err)
	}
	_, err := io.Copy(t.tw, bytes.NewReader(data))
	return err
}

// addOutside adds a Dockerfile from outside the context under its random
// name, and a .dockerignore excluding it when the context had none.
func (t *tarWriter) addOutside(data []byte) error {
	now := time.Now().Truncate(time.Second)
	hdr := &tar.Header{Name: t.extraName, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: now, Size: int64(len(data))}
	if err := t.writeData(hdr, data); err != nil {
		return err
	}
	if t.ignoreOut {
		return nil
	}
	// As Docker's CLI: a .dockerignore made for the occasion excludes
	// itself too, so the daemon drops both and COPY . sees neither.
	ignore := []byte(".dockerignore\n" + t.extraName + "\n")
	hdr = &tar.Header{Name: ".dockerignore", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: now, Size: int64(len(ignore))}
	return t.writeData(hdr, ignore)
}

// fileCaps returns the file's security.capability xattr, which Docker's
// CLI sends so that COPY keeps file capabilities.
func fileCaps(p string) (string, bool) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, "security.capability", buf)
	if err != nil || n <= 0 {
		return "", false
	}
	return string(buf[:n]), true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
