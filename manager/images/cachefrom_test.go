package images

import (
	"context"
	"encoding/json"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func TestHistoryLayer(t *testing.T) {
	img := &Image{
		Config: ocispec.Image{History: []ocispec.History{
			{CreatedBy: "ADD"}, {CreatedBy: "ENV", EmptyLayer: true}, {CreatedBy: "RUN"},
			{CreatedBy: "CMD", EmptyLayer: true}, {CreatedBy: "RUN missing"},
		}},
		DiffIDs: []digest.Digest{digest.FromString("a"), digest.FromString("b")},
	}
	tests := []struct {
		index        int
		layer        int
		empty, valid bool
	}{
		{0, 0, false, true},
		{1, 1, true, true},
		{2, 1, false, true},
		{3, 2, true, true},
		{4, 2, false, false}, // a third layer the image does not have
		{5, 0, false, false},
		{-1, 0, false, false},
	}
	for _, tt := range tests {
		layer, empty, ok := HistoryLayer(img, tt.index)
		if ok != tt.valid || ok && (layer != tt.layer || empty != tt.empty) {
			t.Errorf("HistoryLayer(%d) = %d, empty %v, ok %v; want %d, %v, %v", tt.index, layer, empty, ok, tt.layer, tt.empty, tt.valid)
		}
	}
}

// A source of two layers with an empty step after each: the images a
// build restores from it reuse its layers, and the one that ends at the
// source's last entry is the source.
func TestCommitCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.makeImage(imageSpec{tags: []string{"src:1"}, layers: [][]byte{e.simpleLayer("a"), e.simpleLayer("b")}, emptySteps: true})
	layersBefore, blobsBefore := len(e.layerIDs()), len(e.blobs())

	cfg := func(cmd string) dockerspec.DockerOCIImageConfig {
		return dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", cmd}}}
	}
	// Step 0 on scratch: the first layer.
	s0, err := e.s.CommitCached(ctx, nil, src, 0, cfg("step 1"))
	if err != nil {
		t.Fatal(err)
	}
	// Step 1 (empty) on it, then step 2 (the second layer).
	s1, err := e.s.CommitCached(ctx, s0, src, 1, cfg("empty 1"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := e.s.CommitCached(ctx, s1, src, 2, cfg("step 2"))
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		img     *Image
		parent  string
		history int
		layers  int
	}{{s0, "", 1, 1}, {s1, s0.ID.String(), 2, 1}, {s2, s1.ID.String(), 3, 2}} {
		img := tc.img
		if img.Parent != tc.parent || len(img.Config.History) != tc.history || len(img.DiffIDs) != tc.layers {
			t.Errorf("step %d: parent %q history %d diffIDs %d; want %q, %d, %d", i, img.Parent, len(img.Config.History), len(img.DiffIDs), tc.parent, tc.history, tc.layers)
			continue
		}
		for j := range img.Config.History {
			if !historyEqual(img.Config.History[j], src.Config.History[j]) {
				t.Errorf("step %d: history entry %d %+v, want the source's %+v", i, j, img.Config.History[j], src.Config.History[j])
			}
		}
		for j, d := range img.DiffIDs {
			if d != src.DiffIDs[j] || img.Layers[j] != src.Layers[j] {
				t.Errorf("step %d: layer %d is %s, want the source's %s", i, j, img.Layers[j], src.Layers[j])
			}
		}
		if !img.Created.Equal(*src.Config.History[tc.history-1].Created) {
			t.Errorf("step %d: created %v, want its history entry's", i, img.Created)
		}
	}
	var doc struct {
		Config struct {
			Cmd   []string
			Image string
		} `json:"config"`
	}
	if err := json.Unmarshal(s2.RawConfig, &doc); err != nil || len(doc.Config.Cmd) != 3 || doc.Config.Cmd[2] != "step 2" || doc.Config.Image != s1.ID.String() {
		t.Errorf("s2's run config %+v (%v): want the step's, on s1", doc.Config, err)
	}
	// No layer was made or unpacked; only configs and manifests were added.
	if n := len(e.layerIDs()); n != layersBefore {
		t.Errorf("layers %d -> %d: restoring made layers", layersBefore, n)
	}
	if n := len(e.blobs()); n > blobsBefore+6 {
		t.Errorf("blobs %d -> %d: more than a config and a manifest per image", blobsBefore, n)
	}
	// The same step again is the same image.
	again, err := e.s.CommitCached(ctx, s1, src, 2, cfg("step 2"))
	if err != nil || again.ID != s2.ID {
		t.Errorf("restoring step 2 again: %v, %v; want %s", again, err, ShortID(s2.ID))
	}
	// An entry that does not follow the parent's history is refused.
	if _, err := e.s.CommitCached(ctx, s0, src, 2, cfg("step 2")); !errdefs.IsInvalidArgument(err) {
		t.Errorf("entry 2 on s0: %v, want invalid argument", err)
	}

	// The last entry: the source becomes s2's child.
	if err := e.s.SetParent(src.ID, s2.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, ancestor digest.Digest
		want         bool
	}{
		{src.ID, s2.ID, true}, {src.ID, s0.ID, true}, {s1.ID, s0.ID, true},
		{s0.ID, src.ID, false}, {src.ID, src.ID, false}, {s0.ID, s0.ID, false},
	} {
		if got, err := e.s.IsAncestor(tc.id, tc.ancestor); err != nil || got != tc.want {
			t.Errorf("IsAncestor(%s, %s) = %v, %v; want %v", ShortID(tc.id), ShortID(tc.ancestor), got, err, tc.want)
		}
	}
	if got, _ := e.s.Resolve("src:1"); got.Parent != s2.ID.String() || len(got.RepoTags) != 1 {
		t.Errorf("src after SetParent: parent %q tags %v", got.Parent, got.RepoTags)
	}
	// No cycles.
	if err := e.s.SetParent(s0.ID, src.ID); !errdefs.IsInvalidArgument(err) {
		t.Errorf("SetParent of s0 to its descendant: %v, want invalid argument", err)
	}
	// rmi of the source takes the restored chain with it.
	if _, err := e.s.Remove("src:1", false, false); err != nil {
		t.Fatal(err)
	}
	for _, img := range []*Image{src, s2, s1, s0} {
		if e.exists(img) {
			t.Errorf("%s is still there after rmi src:1", ShortID(img.ID))
		}
	}
}

func historyEqual(a, b ocispec.History) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}
