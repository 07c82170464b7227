package images

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/progress"
)

// maxSmallBytes is how much of an archive's metadata files Load keeps in
// memory.
const maxSmallBytes = 64 << 20

// Load reads a tar (plain, gzip, zstd...) that is either a docker save
// archive (manifest.json; Docker 20.10's <layer>/layer.tar layout or the
// newer blobs/sha256 one) or an OCI image layout (index.json, blobs/, as
// skopeo's and umoci's oci-archive and Docker 25's save write). Blobs go
// to the content store as the tar is read; then each image's layers are
// unpacked through the layer store and the image registered, its tags
// moved to it. It returns a familiar name for each tag loaded and the ID
// ("sha256:...") of each image loaded without a name.
func (s *Service) Load(ctx context.Context, r io.Reader, p progress.Sink) (loaded []string, err error) {
	release := s.Lease()
	defer func() {
		release()
		if err != nil {
			s.GC(context.Background()) // what the failed load stored
		}
	}()
	zr, err := archive.Decompress(r)
	if err != nil {
		return nil, errdefs.Invalid("load: %v", err)
	}
	defer zr.Close()
	files := newLoadFiles()
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errdefs.Invalid("load: reading the archive: %v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			err = files.add(s, hdr.Name, hdr.Size, tr)
		case tar.TypeSymlink:
			err = files.link(hdr.Name, hdr.Linkname, false)
		case tar.TypeLink:
			err = files.link(hdr.Name, hdr.Linkname, true)
		}
		if err != nil {
			return nil, err
		}
	}
	// Read what follows the end-of-archive blocks (tar writers pad to a
	// record): a stream read to its end is one an HTTP server can reuse.
	if _, err := io.Copy(io.Discard, io.LimitReader(zr, maxTrailer)); err != nil {
		return nil, errdefs.Invalid("load: reading the archive: %v", err)
	}
	return s.loadFiles(ctx, files, p)
}

// maxTrailer bounds the padding after a tar's end that Load reads.
const maxTrailer = 1 << 20

// LoadOCIDir loads the images of an OCI image layout directory (or a
// directory holding an unpacked docker save archive).
func (s *Service) LoadOCIDir(ctx context.Context, dir string, p progress.Sink) (loaded []string, err error) {
	release := s.Lease()
	defer func() {
		release()
		if err != nil {
			s.GC(context.Background())
		}
	}()
	files := newLoadFiles()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return files.link(rel, target, false)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			return files.add(s, rel, st.Size(), f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	return s.loadFiles(ctx, files, p)
}

// loadFiles is what an archive held: small metadata files in memory,
// everything else as blobs in the content store, and links between them.
type loadFiles struct {
	small map[string][]byte
	// smallBytes bounds what an archive can make us hold in memory; past
	// maxSmallBytes, metadata files go to the content store too.
	smallBytes int64
	blobs      map[string]digest.Digest
	links      map[string]string
}

func newLoadFiles() *loadFiles {
	return &loadFiles{small: map[string][]byte{}, blobs: map[string]digest.Digest{}, links: map[string]string{}}
}

// cleanArchivePath refuses names that leave the archive.
func cleanArchivePath(name string) (string, error) {
	p := path.Clean("/" + strings.TrimPrefix(name, "./"))
	if p == "/" || strings.Contains(name, "\x00") {
		return "", errdefs.Invalid("load: bad file name %q in the archive", name)
	}
	clean := strings.TrimPrefix(p, "/")
	for _, part := range strings.Split(strings.TrimPrefix(name, "./"), "/") {
		if part == ".." {
			return "", errdefs.Invalid("load: file name %q leaves the archive", name)
		}
	}
	if path.IsAbs(name) {
		return "", errdefs.Invalid("load: absolute file name %q in the archive", name)
	}
	return clean, nil
}

// isMetadataFile names the files kept in memory: the archive's index files
// and JSON configs.
func isMetadataFile(name string, size int64) bool {
	if size > maxConfigSize {
		return false
	}
	switch path.Base(name) {
	case "manifest.json", "index.json", "oci-layout", "repositories", "VERSION", "json":
		return true
	}
	return strings.HasSuffix(name, ".json")
}

func (f *loadFiles) add(s *Service, name string, size int64, r io.Reader) error {
	name, err := cleanArchivePath(name)
	if err != nil {
		return err
	}
	if d, ok := isBlobPath(name); ok {
		got, _, err := s.cs.Put(r, d, size)
		if err != nil {
			return fmt.Errorf("load: %s: %w", name, err)
		}
		f.blobs[name] = got
		return nil
	}
	if isMetadataFile(name, size) && f.smallBytes+size <= maxSmallBytes {
		b, err := io.ReadAll(io.LimitReader(r, size))
		if err != nil {
			return fmt.Errorf("load: %s: %w", name, err)
		}
		f.small[name] = b
		f.smallBytes += size
		return nil
	}
	got, _, err := s.cs.Put(r, "", size)
	if err != nil {
		return fmt.Errorf("load: %s: %w", name, err)
	}
	f.blobs[name] = got
	return nil
}

func (f *loadFiles) link(name, target string, hard bool) error {
	name, err := cleanArchivePath(name)
	if err != nil {
		return err
	}
	if !hard {
		if path.IsAbs(target) {
			return errdefs.Invalid("load: link %s points outside the archive (%s)", name, target)
		}
		target = path.Join(path.Dir(name), target)
	}
	t, err := cleanArchivePath(target)
	if err != nil {
		return err
	}
	f.links[name] = t
	return nil
}

// resolve follows links to a file.
func (f *loadFiles) resolve(name string) string {
	name = path.Clean(strings.TrimPrefix(name, "./"))
	for i := 0; i < 16; i++ {
		t, ok := f.links[name]
		if !ok {
			return name
		}
		name = t
	}
	return name
}

func (f *loadFiles) has(name string) bool {
	name = f.resolve(name)
	_, small := f.small[name]
	_, blob := f.blobs[name]
	return small || blob
}

// bytes reads a small file of the archive (a config).
func (f *loadFiles) bytes(s *Service, name string) ([]byte, error) {
	name = f.resolve(name)
	if b, ok := f.small[name]; ok {
		return b, nil
	}
	if d, ok := f.blobs[name]; ok {
		return s.cs.ReadAll(d, maxConfigSize)
	}
	return nil, errdefs.Invalid("load: %s is missing from the archive", name)
}

// blob is the digest of a large file of the archive (a layer).
func (f *loadFiles) blob(s *Service, name string) (digest.Digest, error) {
	name = f.resolve(name)
	if d, ok := f.blobs[name]; ok {
		return d, nil
	}
	if b, ok := f.small[name]; ok {
		// A tiny layer that happened to look like metadata.
		d := digest.FromBytes(b)
		return d, s.storeBlob(b, d)
	}
	return "", errdefs.Invalid("load: %s is missing from the archive", name)
}
