package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// testEnv is an image service over real stores in a temp data root.
type testEnv struct {
	t    *testing.T
	root string
	db   *metadata.DB
	cs   *content.Store
	ls   *layers.Store
	sn   snapshots.Snapshotter
	s    *Service
	// seq makes each test image's creation time distinct and ordered.
	seq int
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: layers are unpacked with their owners, devices and overlay mounts")
	}
}

func newEnv(t *testing.T) *testEnv {
	return newEnvDriver(t, "")
}

func newEnvDriver(t *testing.T, driver string) *testEnv {
	t.Helper()
	needRoot(t)
	root := t.TempDir()
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs, err := content.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := snapshots.New(driver, filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	ls := layers.NewStore(db, cs, sn)
	return &testEnv{t: t, root: root, db: db, cs: cs, ls: ls, sn: sn, s: New(db, cs, ls)}
}

// tfile is one entry of a test layer.
type tfile struct {
	name string
	body string
	mode int64
	typ  byte
	link string
}

func layerTar(t *testing.T, files ...tfile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Typeflag: f.typ, Linkname: f.link, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(f.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageSpec describes a test image.
type imageSpec struct {
	tags   []string
	layers [][]byte // uncompressed tars, bottom first
	labels map[string]string
	// emptySteps adds a history entry without a layer after each layer.
	emptySteps bool
	repoDigest string // a name without digest; the manifest digest is added
}

// makeImage stores the layers (gzipped) and registers the image as a pull
// would, returning it.
func (e *testEnv) makeImage(spec imageSpec) *Image {
	t := e.t
	t.Helper()
	e.seq++
	created := time.Date(2024, 1, 1, 0, 0, e.seq, 0, time.UTC)
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Labels: spec.labels, Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	var parent digest.Digest
	for i, lt := range spec.layers {
		diffID := digest.FromBytes(lt)
		blob := gzipBytes(t, lt)
		d, n, err := e.cs.Put(bytes.NewReader(blob), "", -1)
		if err != nil {
			t.Fatal(err)
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: n}
		l, err := e.ls.Apply(context.Background(), bytes.NewReader(blob), desc, diffID, parent)
		if err != nil {
			t.Fatalf("apply layer %d: %v", i, err)
		}
		parent = l.ChainID
		m.Layers = append(m.Layers, desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("step %d", i+1)})
		if spec.emptySteps {
			cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("empty %d", i+1), EmptyLayer: true})
		}
	}
	cb, _ := json.Marshal(cfg)
	cd, _, err := e.cs.Put(bytes.NewReader(cb), "", -1)
	if err != nil {
		t.Fatal(err)
	}
	m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))}
	mb, _ := json.Marshal(m)
	md, _, err := e.cs.Put(bytes.NewReader(mb), "", -1)
	if err != nil {
		t.Fatal(err)
	}
	rd := ""
	if spec.repoDigest != "" {
		rd = spec.repoDigest + "@" + md.String()
	}
	img, err := e.s.Register(context.Background(), m, md, m.MediaType, cb, spec.tags, rd)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return img
}

// simpleLayer is a one-file layer whose content is unique to s.
func (e *testEnv) simpleLayer(s string) []byte {
	return layerTar(e.t, tfile{name: "etc/", typ: tar.TypeDir}, tfile{name: "etc/" + s, body: s + "\n"})
}

// blobs returns the set of blobs in the content store.
func (e *testEnv) blobs() map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	e.cs.Walk(func(i content.Info) error { out[i.Digest] = true; return nil })
	return out
}

// layerIDs returns the chain IDs of all layer records.
func (e *testEnv) layerIDs() map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	e.db.View(context.Background(), func(tx *metadata.Tx) error {
		ls, err := tx.ListLayers()
		for _, l := range ls {
			out[l.ChainID] = true
		}
		return err
	})
	return out
}

// readFile reads a file from the image's root file system, mounted
// read-only for the occasion.
func (e *testEnv) readFile(img *Image, name string) string {
	t := e.t
	t.Helper()
	key := "m2-test-view-" + digest.FromString(name + img.ID.String()).Encoded()[:12]
	ms, err := e.ls.Mounts(key, img.Layers[len(img.Layers)-1], true)
	if err != nil {
		t.Fatal(err)
	}
	defer e.sn.Remove(key)
	target := t.TempDir()
	if err := snapshots.MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	defer snapshots.Unmount(target)
	b, err := os.ReadFile(filepath.Join(target, name))
	if err != nil {
		t.Fatalf("read %s in %s: %v", name, ShortID(img.ID), err)
	}
	return string(b)
}
