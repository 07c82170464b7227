package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

func TestCommitOnParent(t *testing.T) {
	e := newEnv(t)
	parent := e.makeImage(imageSpec{tags: []string{"base:1"}, layers: [][]byte{e.simpleLayer("a")}})
	layer := layerTar(t, tfile{name: "etc/", typ: tar.TypeDir}, tfile{name: "etc/b", body: "b\n"}, tfile{name: "etc/.wh.a"})
	cfg := ocispec.ImageConfig{Cmd: []string{"/bin/true"}, Env: []string{"A=1"}}
	h := ocispec.History{CreatedBy: "/bin/sh -c echo b > /etc/b", Comment: "made b", Author: "me"}
	img, err := e.s.Commit(context.Background(), parent, bytes.NewReader(layer), cfg, h, "app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 2 || img.Layers[0] != parent.Layers[0] || len(img.DiffIDs) != 2 {
		t.Fatalf("layers %v diffIDs %v, want the parent's + 1", img.Layers, img.DiffIDs)
	}
	if img.Author != "me" || img.Comment != "made b" || img.Parent != parent.ID.String() {
		t.Errorf("author %q comment %q parent %q", img.Author, img.Comment, img.Parent)
	}
	if got := img.Config.History; len(got) != 2 || got[1].CreatedBy != h.CreatedBy || got[1].Created == nil || got[1].EmptyLayer {
		t.Errorf("history %+v", got)
	}
	if img.Config.Config.Cmd[0] != "/bin/true" || img.Config.Config.Env[0] != "A=1" {
		t.Errorf("config %+v", img.Config.Config)
	}
	if got, err := e.s.Resolve("app:v1"); err != nil || got.ID != img.ID {
		t.Errorf("Resolve(app:v1) = %v, %v", got, err)
	}
	// The manifest names both layer blobs, which exist.
	mb, err := e.cs.ReadAll(img.Manifest, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil || len(m.Layers) != 2 {
		t.Fatalf("manifest %s: %v", mb, err)
	}
	for _, d := range m.Layers {
		if _, err := e.cs.Info(d.Digest); err != nil {
			t.Errorf("layer blob %s: %v", d.Digest, err)
		}
	}
	// Mounted, the image shows b but not the whited-out a.
	ms, err := e.ls.Mounts("commit-test", img.Layers[1], true)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := snapshots.MountAll(ms, dir); err != nil {
		t.Fatal(err)
	}
	defer snapshots.Unmount(dir)
	if b, err := os.ReadFile(filepath.Join(dir, "etc/b")); err != nil || string(b) != "b\n" {
		t.Errorf("etc/b = %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/a")); !os.IsNotExist(err) {
		t.Errorf("etc/a was whited out, lstat: %v", err)
	}
}

// Docker 20.10 adds no layer for an empty diff (image.NewChildImage).
func TestCommitScratchEmptyLayer(t *testing.T) {
	e := newEnv(t)
	empty := layerTar(t) // only the end-of-archive blocks
	img, err := e.s.Commit(context.Background(), nil, bytes.NewReader(empty), ocispec.ImageConfig{}, ocispec.History{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 0 || len(img.RepoTags) != 0 || img.Parent != "" {
		t.Errorf("layers %v tags %v parent %q: want no layer, untagged", img.Layers, img.RepoTags, img.Parent)
	}
	if h := img.Config.History; len(h) != 1 || !h[0].EmptyLayer {
		t.Errorf("history %+v, want one empty_layer entry", h)
	}
}

func TestCommitBadInputLeavesNothing(t *testing.T) {
	e := newEnv(t)
	before := len(e.blobs())
	_, err := e.s.Commit(context.Background(), nil, bytes.NewReader([]byte("not a tar at all, not even close.")), ocispec.ImageConfig{}, ocispec.History{}, "x:1")
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("commit of garbage: %v, want invalid argument", err)
	}
	if _, err := e.s.Commit(context.Background(), nil, bytes.NewReader(layerTar(t)), ocispec.ImageConfig{}, ocispec.History{}, "Bad/Name"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("commit with a bad name: %v, want invalid argument", err)
	}
	if after := len(e.blobs()); after != before {
		t.Errorf("blobs %d -> %d: a failed commit left some", before, after)
	}
	if _, err := e.s.Resolve("x:1"); !errdefs.IsNotFound(err) {
		t.Errorf("x:1 exists after a failed commit: %v", err)
	}
}
