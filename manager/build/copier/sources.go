package copier

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// item is one thing to copy: a file or directory of the source, or a URL.
type item struct {
	name string // the path asked for, Root-relative and clean: hashed, and named in errors
	base string // the name it gets when copied into a directory
	full string // host path, symlinks resolved inside Root
	rel  string // Root-relative slash path of full (for Source.ContentSum)
	dir  bool

	// ADD of a URL: the body is fetched into tmpDir/base.
	url     string
	tmpDir  string
	lastMod time.Time
}

// resolve turns the sources as written into the items to copy.
func resolve(src Source, opts Options) ([]*item, error) {
	var items []*item
	for _, s := range opts.Sources {
		if isURL(s) {
			if !opts.Add {
				return nil, opts.failed(errdefs.Invalid("source can't be a URL for COPY: %s", s))
			}
			if _, err := url.Parse(s); err != nil {
				return nil, opts.failed(errdefs.Invalid("invalid URL %q: %v", s, err))
			}
			items = append(items, &item{name: s, url: s})
			continue
		}
		got, err := resolvePath(src, s)
		if err != nil {
			return nil, opts.failed(err)
		}
		items = append(items, got...)
	}
	if len(items) == 0 {
		return nil, opts.failed(errdefs.Invalid("no source files were specified"))
	}
	if _, dirDest := normalizeDest(opts.WorkDir, opts.Dest); len(items) > 1 && !dirDest {
		return nil, errdefs.Invalid("When using %s with more than one source file, the destination must be a directory and end with a /", opts.cmd())
	}
	return items, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// resolvePath finds what one local source names: one path, or each path
// its wildcards match, in lexical order.
func resolvePath(src Source, s string) ([]*item, error) {
	if src.Context {
		c := strings.TrimPrefix(path.Clean(s), "/")
		if c == ".." || strings.HasPrefix(c, "../") {
			return nil, errdefs.Invalid("forbidden path outside the build context: %s ()", s)
		}
	}
	// A leading "/" names Root itself, as ".." above it does for an image.
	rel := strings.TrimPrefix(path.Clean("/"+s), "/")
	if rel == "" {
		rel = "."
	}
	if !hasWildcards(rel) {
		// Errors name the path as written, less a leading "/" or "./",
		// as Docker's do.
		shown := strings.TrimPrefix(strings.TrimPrefix(s, "/"), "./")
		if shown == "" {
			shown = s
		}
		it, err := single(src, rel, shown)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(s, "/") && !it.dir {
			return nil, notFound(src, shown) // stat "file/" fails with ENOTDIR
		}
		return []*item{it}, nil
	}
	var items []*item
	depth := strings.Count(rel, "/") + 1
	err := filepath.WalkDir(src.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(src.Root, p)
		if err != nil || r == "." {
			return err
		}
		r = filepath.ToSlash(r)
		if ok, _ := path.Match(rel, r); ok {
			it, err := single(src, r, r)
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		// A match has as many components as the pattern: no need to go deeper.
		if d.IsDir() && strings.Count(r, "/")+1 >= depth {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// hasWildcards reports an unescaped *, ? or [.
func hasWildcards(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// single resolves rel (no wildcards) inside Root, following symlinks
// there, as Docker stats a source.
func single(src Source, rel, shown string) (*item, error) {
	full, err := securejoin.SecureJoin(src.Root, rel)
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Stat(full)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, notFound(src, shown)
		}
		return nil, err
	}
	r, err := filepath.Rel(src.Root, full)
	if err != nil {
		return nil, err
	}
	return &item{name: rel, base: path.Base(rel), full: full, rel: filepath.ToSlash(r), dir: fi.IsDir()}, nil
}

func notFound(src Source, shown string) error {
	if src.Context {
		return errdefs.NotFound("file not found in build context or excluded by .dockerignore: stat %s: file does not exist", shown)
	}
	return errdefs.NotFound("file not found in the --from source: stat %s: file does not exist", shown)
}
