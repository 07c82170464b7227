package images

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of Docker's image manifest (schema 2) and its parts, beside
// the OCI ones in ocispec.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	mediaTypeDockerForeignGzip  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

	// annotationImageName is where containerd (and Docker 25's save) keep
	// an image's full name in an OCI layout's index.json; ref.name then
	// holds the tag alone.
	annotationImageName = "io.containerd.image.name"
)

// dockerManifestEntry is one image in a docker save archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
	// LayerSources describes foreign layers (absent from the archive);
	// kept when read so that nothing is lost, never written.
	LayerSources map[string]ocispec.Descriptor `json:",omitempty"`
}

// layoutWriter receives the files of an archive or layout, in order.
type layoutWriter interface {
	Dir(name string, mtime time.Time) error
	File(name string, size int64, mtime time.Time, r io.Reader) error
	Symlink(name, target string, mtime time.Time) error
}

// tarLayout writes the files as a tar stream, as docker save does (root
// owned, 0644 files, 0755 directories).
type tarLayout struct{ tw *tar.Writer }

func (t tarLayout) Dir(name string, mtime time.Time) error {
	return t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
}

func (t tarLayout) File(name string, size int64, mtime time.Time, r io.Reader) error {
	if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(t.tw, r)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("write %s: %d bytes, expected %d", name, n, size)
	}
	return nil
}

func (t tarLayout) Symlink(name, target string, mtime time.Time) error {
	return t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: mtime, Format: tar.FormatPAX})
}

// dirLayout writes the files into a directory (an OCI layout directory as
// skopeo and umoci use).
type dirLayout struct{ root string }

func (d dirLayout) Dir(name string, mtime time.Time) error {
	return os.MkdirAll(filepath.Join(d.root, name), 0o755)
}

func (d dirLayout) File(name string, size int64, mtime time.Time, r io.Reader) error {
	p := filepath.Join(d.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r)
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, expected %d", n, size)
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return os.Rename(tmp.Name(), p)
}

func (d dirLayout) Symlink(name, target string, mtime time.Time) error {
	p := filepath.Join(d.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.Symlink(target, p)
}
