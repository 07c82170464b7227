package layers

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

var ctx = context.Background()

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: owners, overlay mounts")
	}
}

type fixture struct {
	root string
	db   *metadata.DB
	cs   *content.Store
	sn   snapshots.Snapshotter
	ls   *Store
}

func newFixture(t testing.TB, driver string) *fixture {
	t.Helper()
	requireRoot(t)
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
	return &fixture{root: root, db: db, cs: cs, sn: sn, ls: NewStore(db, cs, sn)}
}

// layer is a test layer: its tar, gzip blob and descriptors.
type layer struct {
	tar, blob []byte
	diffID    digest.Digest
	desc      ocispec.Descriptor
}

type tent struct {
	name, body, link string
	typ              byte
}

func makeLayer(t testing.TB, ents ...tent) layer {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link, ModTime: time.Unix(1600000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return fromTar(t, tb.Bytes())
}

func fromTar(t testing.TB, tarBytes []byte) layer {
	var gz bytes.Buffer
	zw := pgzip.NewWriter(&gz)
	zw.Write(tarBytes)
	zw.Close()
	return layer{
		tar: tarBytes, blob: gz.Bytes(), diffID: digest.FromBytes(tarBytes),
		desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz.Bytes()), Size: int64(gz.Len())},
	}
}

func (f *fixture) snapshotKeys(t *testing.T) []string {
	var keys []string
	f.sn.Walk(func(i snapshots.Info) error { keys = append(keys, i.Key); return nil })
	return keys
}

func (f *fixture) mount(t *testing.T, key string, chainID digest.Digest) string {
	t.Helper()
	ms, err := f.ls.Mounts(key, chainID, false)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := snapshots.MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshots.Unmount(target) })
	return target
}

func TestChainIDs(t *testing.T) {
	a, b, c := digest.FromString("a"), digest.FromString("b"), digest.FromString("c")
	ab := digest.FromString(a.String() + " " + b.String())
	abc := digest.FromString(ab.String() + " " + c.String())
	got := ChainIDs([]digest.Digest{a, b, c})
	if len(got) != 3 || got[0] != a || got[1] != ab || got[2] != abc {
		t.Errorf("ChainIDs = %v", got)
	}
	if len(ChainIDs(nil)) != 0 {
		t.Error("ChainIDs(nil) not empty")
	}
}

func TestApplyStack(t *testing.T) {
	for _, driver := range []string{"overlay2", "native"} {
		t.Run(driver, func(t *testing.T) {
			f := newFixture(t, driver)
			layers := []layer{
				makeLayer(t, tent{name: "etc/", typ: tar.TypeDir}, tent{name: "etc/passwd", body: "root"}, tent{name: "etc/group", body: "g"},
					tent{name: "opt/old", body: "o"}, tent{name: "opt/sub/deep", body: "d"}),
				makeLayer(t, tent{name: "etc/.wh.group"}, tent{name: "bin/sh", body: "sh"},
					tent{name: "opt/", typ: tar.TypeDir}, tent{name: "opt/.wh..wh..opq"}, tent{name: "opt/new", body: "n"}),
				makeLayer(t, tent{name: "bin/sh", body: "new"}, tent{name: "etc/hosts", body: "h"}),
			}
			var diffIDs []digest.Digest
			for _, l := range layers {
				diffIDs = append(diffIDs, l.diffID)
			}
			chain := ChainIDs(diffIDs)
			// Top first, all at once: the overlay unpacks each on its own,
			// the native driver waits for parents.
			var wg sync.WaitGroup
			errs := make([]error, len(layers))
			for i := len(layers) - 1; i >= 0; i-- {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					var parent digest.Digest
					if i > 0 {
						parent = chain[i-1]
					}
					l, err := f.ls.Apply(ctx, bytes.NewReader(layers[i].blob), layers[i].desc, layers[i].diffID, parent)
					if err == nil && (l.ChainID != chain[i] || l.Blob != layers[i].desc.Digest || l.BlobSize != layers[i].desc.Size || l.Parent != parent) {
						err = fmt.Errorf("layer %d recorded as %+v", i, l)
					}
					errs[i] = err
				}(i)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
			}
			rootfs := f.mount(t, "ctr-"+driver, chain[2])
			for p, want := range map[string]string{"etc/passwd": "root", "bin/sh": "new", "etc/hosts": "h"} {
				if b, _ := os.ReadFile(filepath.Join(rootfs, p)); string(b) != want {
					t.Errorf("%s = %q, want %q", p, b, want)
				}
			}
			if _, err := os.Stat(filepath.Join(rootfs, "etc/group")); !os.IsNotExist(err) {
				t.Errorf("etc/group not whited out: %v", err)
			}
			if ents, _ := os.ReadDir(filepath.Join(rootfs, "opt")); len(ents) != 1 || ents[0].Name() != "new" {
				t.Errorf("opaque opt/ shows %v, want only new", ents)
			}
			// Already unpacked: returned at once, the stream is not read.
			l, err := f.ls.Apply(ctx, failingReader{}, layers[0].desc, layers[0].diffID, "")
			if err != nil || l.ChainID != chain[0] {
				t.Errorf("second Apply = %v, %v", l, err)
			}
			// In use by a child: cannot go.
			if err := f.ls.Remove(chain[1]); !errdefs.IsConflict(err) {
				t.Errorf("Remove of a parent = %v", err)
			}
			// In use by a container's snapshot: cannot go either.
			if err := f.ls.Remove(chain[2]); !errdefs.IsConflict(err) {
				t.Errorf("Remove of a layer under a container = %v", err)
			}
			snapshots.Unmount(rootfs)
			if err := f.sn.Remove("ctr-" + driver); err != nil {
				t.Fatal(err)
			}
			for i := 2; i >= 0; i-- {
				if err := f.ls.Remove(chain[i]); err != nil {
					t.Fatalf("Remove(%d): %v", i, err)
				}
			}
			if keys := f.snapshotKeys(t); len(keys) != 0 {
				t.Errorf("snapshots left: %v", keys)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) {
	return 0, errors.New("read a stream that should not be read")
}

// Every way a layer can be bad fails with a clear error and leaves no
// snapshot and no record.
func TestApplyFailuresLeaveNothing(t *testing.T) {
	good := makeLayer(t, tent{name: "a", body: strings.Repeat("data", 10000)})
	for _, tc := range []struct {
		name string
		blob func() ([]byte, ocispec.Descriptor, digest.Digest)
		kind error
	}{
		{"truncated gzip", func() ([]byte, ocispec.Descriptor, digest.Digest) {
			return good.blob[:len(good.blob)/2], ocispec.Descriptor{}, good.diffID
		}, errdefs.ErrInvalidArgument},
		{"blob digest mismatch", func() ([]byte, ocispec.Descriptor, digest.Digest) {
			d := good.desc
			d.Digest = digest.FromString("something else")
			return good.blob, d, good.diffID
		}, errdefs.ErrInvalidArgument},
		{"blob size mismatch", func() ([]byte, ocispec.Descriptor, digest.Digest) {
			d := good.desc
			d.Size++
			return good.blob, d, good.diffID
		}, errdefs.ErrInvalidArgument},
		{"diff id mismatch", func() ([]byte, ocispec.Descriptor, digest.Digest) {
			return good.blob, good.desc, digest.FromString("not the tar")
		}, errdefs.ErrInvalidArgument},
		{"dotdot escape", func() ([]byte, ocispec.Descriptor, digest.Digest) {
			l := makeLayer(t, tent{name: "ok", body: "x"}, tent{name: "../escape", body: "x"})
			return l.blob, l.desc, l.diffID
		}, errdefs.ErrInvalidArgument},
		{"file through a symlink", func() ([]byte, ocispec.Descriptor, digest.Digest) {
			l := makeLayer(t, tent{name: "s", typ: tar.TypeSymlink, link: "/etc"}, tent{name: "s/escape", body: "x"})
			return l.blob, l.desc, l.diffID
		}, errdefs.ErrInvalidArgument},
		{"garbage", func() ([]byte, ocispec.Descriptor, digest.Digest) {
			b := bytes.Repeat([]byte("not a tar"), 1000)
			return b, ocispec.Descriptor{}, digest.FromBytes(b)
		}, errdefs.ErrInvalidArgument},
	} {
		for _, driver := range []string{"overlay2", "native"} {
			t.Run(tc.name+"/"+driver, func(t *testing.T) {
				f := newFixture(t, driver)
				blob, desc, diffID := tc.blob()
				_, err := f.ls.Apply(ctx, bytes.NewReader(blob), desc, diffID, "")
				if err == nil || !errors.Is(err, tc.kind) {
					t.Fatalf("Apply = %v, want %v", err, tc.kind)
				}
				t.Logf("%v", err)
				if keys := f.snapshotKeys(t); len(keys) != 0 {
					t.Errorf("snapshots left: %v", keys)
				}
				f.db.View(ctx, func(tx *metadata.Tx) error {
					if ls, _ := tx.ListLayers(); len(ls) != 0 {
						t.Errorf("layers recorded: %v", ls)
					}
					return nil
				})
				if _, err := os.Stat("/etc/escape"); err == nil {
					t.Error("/etc/escape written")
				}
			})
		}
	}
}

// countingBlob counts how many bytes were read of it.
type countingBlob struct {
	r *bytes.Reader
	n *atomic.Int64
}

func (c countingBlob) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestApplyConcurrentOnce(t *testing.T) {
	f := newFixture(t, "overlay2")
	var ents []tent
	for i := 0; i < 500; i++ {
		ents = append(ents, tent{name: fmt.Sprintf("f%d", i), body: strings.Repeat("x", i)})
	}
	l := makeLayer(t, ents...)
	var read atomic.Int64
	var wg sync.WaitGroup
	results := make([]*metadata.Layer, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = f.ls.Apply(ctx, countingBlob{bytes.NewReader(l.blob), &read}, l.desc, l.diffID, "")
		}(i)
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i].ChainID != l.diffID {
			t.Fatalf("Apply %d = %v, %v", i, results[i], errs[i])
		}
	}
	if read.Load() != int64(len(l.blob)) {
		t.Errorf("read %d bytes of blobs for one layer of %d: the work was done more than once", read.Load(), len(l.blob))
	}
}

func TestUnpackFromContent(t *testing.T) {
	f := newFixture(t, "overlay2")
	l := makeLayer(t, tent{name: "hello", body: "world"})
	if _, _, err := f.cs.Put(bytes.NewReader(l.blob), l.desc.Digest, l.desc.Size); err != nil {
		t.Fatal(err)
	}
	got, err := f.ls.Unpack(ctx, l.desc, l.diffID, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 5 || got.BlobMediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("layer = %+v", got)
	}
	if _, err := f.ls.Unpack(ctx, ocispec.Descriptor{Digest: digest.FromString("absent")}, digest.FromString("x"), ""); !errdefs.IsNotFound(err) {
		t.Errorf("Unpack of a missing blob = %v", err)
	}
}

func TestApplyCancelled(t *testing.T) {
	f := newFixture(t, "overlay2")
	l := makeLayer(t, tent{name: "a", body: "x"})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.ls.Apply(c, bytes.NewReader(l.blob), l.desc, l.diffID, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context = %v", err)
	}
	if keys := f.snapshotKeys(t); len(keys) != 0 {
		t.Errorf("snapshots left: %v", keys)
	}
}

// Cleanup after a kill -9: temp snapshots, snapshots without a record and
// records without a snapshot go; complete layers stay.
func TestCleanup(t *testing.T) {
	f := newFixture(t, "overlay2")
	keep := makeLayer(t, tent{name: "keep", body: "k"})
	if _, err := f.ls.Apply(ctx, bytes.NewReader(keep.blob), keep.desc, keep.diffID, ""); err != nil {
		t.Fatal(err)
	}
	// A kill mid-unpack.
	f.sn.Prepare(tempPrefix+"dead-beef", "")
	// A kill between snapshot commit and record.
	orphan := digest.FromString("orphan")
	f.sn.Prepare("k", "")
	f.sn.Commit(orphan.String(), "k")
	// A record whose snapshot is gone.
	lost := digest.FromString("lost")
	f.db.Update(ctx, func(tx *metadata.Tx) error { return tx.PutLayer(&metadata.Layer{ChainID: lost, DiffID: lost}) })
	// A container's snapshot is not the layer store's to remove.
	f.sn.Prepare("container-1", keep.diffID.String())

	// As at start-up: reopen the snapshotter, then clean.
	sn, err := snapshots.New("overlay2", filepath.Join(f.root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	ls := NewStore(f.db, f.cs, sn)
	if err := ls.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	var keys []string
	sn.Walk(func(i snapshots.Info) error { keys = append(keys, i.Key); return nil })
	if got := strings.Join(keys, " "); got != "container-1 "+keep.diffID.String() {
		t.Errorf("snapshots after cleanup: %s", got)
	}
	if _, err := ls.Get(lost); !errdefs.IsNotFound(err) {
		t.Errorf("record without snapshot kept: %v", err)
	}
	if _, err := ls.Get(keep.diffID); err != nil {
		t.Errorf("complete layer lost: %v", err)
	}
}

// A record whose snapshot is missing (another driver's, or lost) is not a
// usable layer: Get says not found and Apply unpacks it again.
func TestGetNeedsSnapshot(t *testing.T) {
	f := newFixture(t, "overlay2")
	l := makeLayer(t, tent{name: "a", body: "x"})
	if _, err := f.ls.Apply(ctx, bytes.NewReader(l.blob), l.desc, l.diffID, ""); err != nil {
		t.Fatal(err)
	}
	native, err := snapshots.New("native", filepath.Join(f.root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	other := NewStore(f.db, f.cs, native)
	if _, err := other.Get(l.diffID); !errdefs.IsNotFound(err) {
		t.Fatalf("Get in another driver = %v", err)
	}
	if _, err := other.Apply(ctx, bytes.NewReader(l.blob), l.desc, l.diffID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(l.diffID); err != nil {
		t.Errorf("Get after unpacking again = %v", err)
	}
}
