package layers

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

const testGzipType = "application/vnd.docker.image.rootfs.diff.tar.gzip"

func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// inflate reads the blob d back from the content store, decompressed.
func (f *fixture) inflate(t *testing.T, d digest.Digest) []byte {
	t.Helper()
	r, err := f.cs.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if head := make([]byte, 2); true {
		io.ReadFull(r, head)
		if archive.Detect(head) != archive.Gzip {
			t.Errorf("blob %s is not gzip", d)
		}
		r.Seek(0, io.SeekStart)
	}
	zr, err := archive.Decompress(r)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestApplyTar unpacks tarballs whose diff ID is not given, in every
// compression, on both drivers: the diff ID is the tar's digest, the blob
// is gzip and inflates to the tar, a gzip input is kept as given, and the
// layer is usable and shared with the classic Apply.
func TestApplyTar(t *testing.T) {
	base := makeLayer(t, tent{name: "etc/", typ: tar.TypeDir}, tent{name: "etc/passwd", body: "root"},
		tent{name: "big", body: strings.Repeat("0123456789", 300000)})
	top := makeLayer(t, tent{name: "etc/.wh.passwd"}, tent{name: "etc/hosts", body: "h"})
	for _, driver := range []string{"overlay2", "native"} {
		for _, tc := range []struct {
			name      string
			input     func(l layer) []byte
			keepsGzip bool
		}{
			{"plain", func(l layer) []byte { return l.tar }, false},
			{"gzip", func(l layer) []byte { return l.blob }, true},
			{"zstd", func(l layer) []byte { return zstdOf(t, l.tar) }, false},
			// Padding after the end-of-archive blocks is part of the tar.
			{"padded", func(l layer) []byte { return append(append([]byte{}, l.tar...), make([]byte, 10240)...) }, false},
		} {
			t.Run(driver+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t, driver)
				in := tc.input(base)
				l, blob, err := f.ls.ApplyTar(ctx, bytes.NewReader(in), "", testGzipType)
				if err != nil {
					t.Fatal(err)
				}
				wantTar := base.tar
				if tc.name == "padded" {
					wantTar = in
				}
				if l.DiffID != digest.FromBytes(wantTar) || l.ChainID != l.DiffID || l.Parent != "" {
					t.Errorf("layer %+v, want diff id %s", l, digest.FromBytes(wantTar))
				}
				if blob.MediaType != testGzipType || l.Blob != blob.Digest || l.BlobSize != blob.Size || l.BlobMediaType != testGzipType {
					t.Errorf("blob %+v, layer %+v", blob, l)
				}
				if info, err := f.cs.Info(blob.Digest); err != nil || info.Size != blob.Size {
					t.Errorf("blob in the store: %+v %v, want size %d", info, err, blob.Size)
				}
				if tc.keepsGzip && blob.Digest != base.desc.Digest {
					t.Errorf("gzip input stored as %s, want it byte for byte (%s)", blob.Digest, base.desc.Digest)
				}
				if got := f.inflate(t, blob.Digest); !bytes.Equal(got, wantTar) {
					t.Errorf("blob inflates to %d bytes, want the %d-byte tar", len(got), len(wantTar))
				}
				if got, err := f.ls.Get(l.ChainID); err != nil || got.Size != l.Size || l.Size == 0 {
					t.Errorf("Get = %+v, %v (size %d)", got, err, l.Size)
				}

				// A second layer on top: chain ID from the parent.
				l2, _, err := f.ls.ApplyTar(ctx, bytes.NewReader(top.tar), l.ChainID, testGzipType)
				if err != nil {
					t.Fatal(err)
				}
				if want := ChainIDs([]digest.Digest{l.DiffID, top.diffID})[1]; l2.ChainID != want || l2.Parent != l.ChainID {
					t.Errorf("top layer %+v, want chain id %s", l2, want)
				}
				rootfs := f.mount(t, "ctr-m5-"+tc.name, l2.ChainID)
				if b, _ := os.ReadFile(filepath.Join(rootfs, "etc/hosts")); string(b) != "h" {
					t.Errorf("etc/hosts = %q", b)
				}
				if _, err := os.Stat(filepath.Join(rootfs, "etc/passwd")); !os.IsNotExist(err) {
					t.Errorf("etc/passwd not whited out: %v", err)
				}

				// The same tar again, or through Apply: the layer is shared,
				// and no temp snapshot stays behind.
				again, blob2, err := f.ls.ApplyTar(ctx, bytes.NewReader(in), "", testGzipType)
				if err != nil || again.ChainID != l.ChainID || blob2.Digest == "" {
					t.Errorf("ApplyTar again = %+v %+v %v", again, blob2, err)
				}
				if _, err := f.ls.Apply(ctx, failingReader{}, base.desc, base.diffID, ""); tc.name != "padded" && err != nil {
					t.Errorf("Apply of the imported layer read its stream: %v", err)
				}
				for _, k := range f.snapshotKeys(t) {
					if strings.HasPrefix(k, tempPrefix) {
						t.Errorf("temp snapshot left: %s", k)
					}
				}
			})
		}
	}
}

// TestApplyTarFailuresLeaveNothing: bad tarballs fail as invalid input
// and leave no snapshot, no record and no blob.
func TestApplyTarFailuresLeaveNothing(t *testing.T) {
	good := makeLayer(t, tent{name: "a", body: strings.Repeat("data", 100000)})
	escape := makeLayer(t, tent{name: "ok", body: "x"}, tent{name: "../escape-m5", body: "x"})
	for _, tc := range []struct {
		name string
		in   []byte
		r    io.Reader
		kind error
	}{
		{name: "empty", in: nil, kind: errdefs.ErrInvalidArgument},
		{name: "truncated gzip", in: good.blob[:len(good.blob)/2], kind: errdefs.ErrInvalidArgument},
		{name: "truncated tar", in: good.tar[:len(good.tar)/2], kind: errdefs.ErrInvalidArgument},
		{name: "path escape", in: escape.tar, kind: errdefs.ErrInvalidArgument},
		{name: "garbage", in: bytes.Repeat([]byte("not a tar"), 1000), kind: errdefs.ErrInvalidArgument},
		{name: "read error", r: io.MultiReader(bytes.NewReader(good.tar[:4096]), failingReader{})},
	} {
		for _, driver := range []string{"overlay2", "native"} {
			t.Run(tc.name+"/"+driver, func(t *testing.T) {
				f := newFixture(t, driver)
				r := tc.r
				if r == nil {
					r = bytes.NewReader(tc.in)
				}
				_, _, err := f.ls.ApplyTar(ctx, r, "", testGzipType)
				if err == nil || (tc.kind != nil && !errors.Is(err, tc.kind)) {
					t.Fatalf("ApplyTar = %v, want %v", err, tc.kind)
				}
				if keys := f.snapshotKeys(t); len(keys) != 0 {
					t.Errorf("snapshots left: %v", keys)
				}
				f.db.View(ctx, func(tx *metadata.Tx) error {
					if ls, _ := tx.ListLayers(); len(ls) != 0 {
						t.Errorf("layers recorded: %v", ls)
					}
					return nil
				})
				var blobs []digest.Digest
				f.cs.Walk(func(i content.Info) error { blobs = append(blobs, i.Digest); return nil })
				if len(blobs) != 0 {
					t.Errorf("blobs left: %v", blobs)
				}
				if ents, _ := os.ReadDir(filepath.Join(f.root, "content", "ingest")); len(ents) != 0 {
					t.Errorf("ingest left: %d entries", len(ents))
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(f.root), "escape-m5")); err == nil {
					t.Error("escape-m5 written outside the layer")
				}
			})
		}
	}
}

// TestApplyTarCancelled: a cancelled context stops the unpack with
// ctx's error and nothing left.
func TestApplyTarCancelled(t *testing.T) {
	f := newFixture(t, "overlay2")
	good := makeLayer(t, tent{name: "a", body: "x"})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := f.ls.ApplyTar(c, bytes.NewReader(good.tar), "", testGzipType); !errors.Is(err, c.Err()) {
		t.Errorf("ApplyTar = %v, want %v", err, c.Err())
	}
	if keys := f.snapshotKeys(t); len(keys) != 0 {
		t.Errorf("snapshots left: %v", keys)
	}
}

// TestApplyTarConcurrent: the same tarball imported several times at once
// ends as one layer; the losers' temp snapshots are gone.
func TestApplyTarConcurrent(t *testing.T) {
	base := makeLayer(t, tent{name: "a", body: strings.Repeat("x", 1<<20)}, tent{name: "b", body: "y"})
	for _, driver := range []string{"overlay2", "native"} {
		t.Run(driver, func(t *testing.T) {
			f := newFixture(t, driver)
			const n = 4
			got := make([]digest.Digest, n)
			errs := make([]error, n)
			done := make(chan int)
			for i := 0; i < n; i++ {
				go func(i int) {
					l, _, err := f.ls.ApplyTar(ctx, bytes.NewReader(base.tar), "", testGzipType)
					if err == nil {
						got[i] = l.ChainID
					}
					errs[i] = err
					done <- i
				}(i)
			}
			for i := 0; i < n; i++ {
				<-done
			}
			for i := 0; i < n; i++ {
				if errs[i] != nil || got[i] != base.diffID {
					t.Errorf("call %d: %s, %v (want %s)", i, got[i], errs[i], base.diffID)
				}
			}
			if keys := f.snapshotKeys(t); len(keys) != 1 || keys[0] != base.diffID.String() {
				t.Errorf("snapshots: %v, want only %s", keys, base.diffID)
			}
		})
	}
}
