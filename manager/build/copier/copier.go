// Package copier carries out a Dockerfile's COPY and ADD: it finds the
// sources (build context, another stage's or image's root file system, or
// http(s) URLs for ADD), answers their cache checksum, and copies them into
// the mounted root file system of the layer being built, as Docker 20.10's
// classic builder does (BuildKit's rules where the classic builder refuses
// an option, such as --chmod).
//
// Nothing below rootfs is trusted: the destination is resolved inside
// rootfs (a symlink in the image never leads a write out of it), and
// entries under it are replaced, never followed.
package copier

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Source is where COPY and ADD read from.
type Source struct {
	Root string // the context dir or a mounted rootfs
	// Context: Root is the build context: sources are relative to it and
	// may not leave it; a symlink is resolved inside Root.
	Context bool
	// ContentSum, when set, answers the BLAKE3 digest ("blake3:<hex>",
	// as Checksum computes it otherwise) of a regular file's content by
	// its Root-relative slash path, to avoid reading it again.
	ContentSum func(rel string) (string, bool)
}

// Options are the arguments of one COPY or ADD instruction.
type Options struct {
	// Sources as written, variables expanded; may hold wildcards (Go's
	// filepath.Match per path, as Docker) or, for ADD, http(s) URLs.
	Sources []string
	Dest    string // as written, expanded
	WorkDir string // the stage's WORKDIR ("" = "/"), for a relative Dest
	// Chown is --chown: "user", "user:group", "uid:gid"; names are looked
	// up in the target rootfs's /etc/passwd and /etc/group; "" = 0:0.
	Chown string
	// Chmod is --chmod in octal ("" keeps the source's mode).
	Chmod string
	// Add is ADD: local tar archives (plain, gzip, bzip2, xz) are unpacked
	// into Dest and http(s) URLs are fetched.
	Add bool
	// PreserveOwnership keeps the sources' owners when Chown is empty:
	// Docker does so for COPY --from (directories it creates stay root's).
	PreserveOwnership bool
}

func (o Options) cmd() string {
	if o.Add {
		return "ADD"
	}
	return "COPY"
}

// failed prefixes a source error the way Docker reports it.
func (o Options) failed(err error) error {
	return fmt.Errorf("%s failed: %w", o.cmd(), err)
}

// Sources are a COPY or ADD's sources, found (and URLs downloaded) once
// for both the checksum and the copy.
type Sources struct {
	src   Source
	opts  Options
	items []*item
}

// Open finds the sources, downloading URLs. A missing source fails here,
// with Docker's words. Close removes the downloads.
func Open(ctx context.Context, src Source, opts Options) (*Sources, error) {
	items, err := resolve(src, opts)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.url != "" {
			if err := fetch(ctx, it); err != nil {
				cleanupItems(items)
				return nil, opts.failed(err)
			}
		}
	}
	return &Sources{src: src, opts: opts, items: items}, nil
}

// Close removes what Open downloaded.
func (s *Sources) Close() { cleanupItems(s.items) }

// Checksum is the cache key part for the sources: it changes when the
// content, mode, type, name, link target or size of what is copied
// changes (and the owner, for sources outside the build context), never
// for a new mtime. It reads "file:<hex>" for one file, "dir:<hex>" for one
// directory and "multi:<hex>" for several sources, as Docker writes into
// the image history. Dest, --chown and --chmod are not part of it.
func (s *Sources) Checksum(ctx context.Context) (string, error) {
	sums := make([]string, 0, len(s.items))
	for _, it := range s.items {
		sum, err := checksumItem(ctx, s.src, it)
		if err != nil {
			return "", s.opts.failed(err)
		}
		sums = append(sums, sum)
	}
	if len(sums) == 1 {
		return sums[0], nil
	}
	return hashStrings("multi", sums), nil
}

// Copy copies the sources into rootfs, the mounted target root. A failure
// part way may leave part of the copy in rootfs, never anything outside.
func (s *Sources) Copy(ctx context.Context, rootfs string) error {
	opts := s.opts
	mode, err := parseChmod(opts.Chmod)
	if err != nil {
		return err
	}
	owner, err := parseChown(rootfs, opts.Chown)
	if err != nil {
		return err
	}
	dest, dirDest := normalizeDest(opts.WorkDir, opts.Dest)
	target, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return fmt.Errorf("failed to copy files: resolve %s in the image: %w", dest, err)
	}
	w := &writer{ctx: ctx, owner: owner, chmod: mode, preserve: opts.PreserveOwnership && opts.Chown == ""}
	for _, it := range s.items {
		if err := w.copyItem(rootfs, target, dest, dirDest, it, opts.Add); err != nil {
			return fmt.Errorf("failed to copy files: %w", err)
		}
	}
	return nil
}

// Checksum is Open, Sources.Checksum and Close.
func Checksum(ctx context.Context, src Source, opts Options) (string, error) {
	s, err := Open(ctx, src, opts)
	if err != nil {
		return "", err
	}
	defer s.Close()
	return s.Checksum(ctx)
}

// Copy is Open, Sources.Copy and Close.
func Copy(ctx context.Context, src Source, rootfs string, opts Options) error {
	s, err := Open(ctx, src, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Copy(ctx, rootfs)
}

// normalizeDest makes Dest absolute against WorkDir and says whether it
// names a directory to copy into (a trailing "/", or "." and "..", which
// BuildKit treats as directories too).
func normalizeDest(workDir, dest string) (string, bool) {
	dir := strings.HasSuffix(dest, "/") || dest == "." || dest == ".." ||
		strings.HasSuffix(dest, "/.") || strings.HasSuffix(dest, "/..")
	if !path.IsAbs(dest) {
		dest = path.Join("/", workDir, dest)
	}
	return path.Clean(dest), dir
}

// noMode means no --chmod.
const noMode = ^uint32(0)

func parseChmod(s string) (uint32, error) {
	if s == "" {
		return noMode, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 07777 {
		return 0, errdefs.Invalid("invalid chmod parameter: %q (an octal mode such as 0755 is expected)", s)
	}
	return uint32(m), nil
}

func cleanupItems(items []*item) {
	for _, it := range items {
		if it.tmpDir != "" {
			os.RemoveAll(it.tmpDir)
		}
	}
}
