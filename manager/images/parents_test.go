package images

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// commitOn makes a one-layer child of parent as a build step would.
func (e *testEnv) commitOn(parent *Image, name, ref string) *Image {
	e.t.Helper()
	img, err := e.s.Commit(context.Background(), parent, bytes.NewReader(e.simpleLayer(name)),
		ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}, ocispec.History{CreatedBy: "RUN " + name}, ref)
	if err != nil {
		e.t.Fatalf("commit %s: %v", name, err)
	}
	return img
}

// chain is base (tagged baseTag, "" for none; two layers) -> a -> b
// (tagged app:1), as a two-step build on base makes it.
func (e *testEnv) chain(baseTag string) (base, a, b *Image) {
	e.t.Helper()
	var tags []string
	if baseTag != "" {
		tags = []string{baseTag}
	}
	base = e.makeImage(imageSpec{tags: tags, layers: [][]byte{e.simpleLayer("base1"), e.simpleLayer("base2")}})
	a = e.commitOn(base, "a", "")
	b = e.commitOn(a, "b", "app:1")
	return base, a, b
}

func (e *testEnv) exists(img *Image) bool {
	_, err := e.s.Resolve(img.ID.String())
	return err == nil
}

func ids(imgs []*Image) []digest.Digest {
	out := []digest.Digest{}
	for _, img := range imgs {
		out = append(out, img.ID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// usedBy is an InUse where a stopped container uses the images.
func usedBy(imgs ...*Image) func(digest.Digest) (string, bool) {
	return func(id digest.Digest) (string, bool) {
		for _, img := range imgs {
			if img.ID == id {
				return "c1", false
			}
		}
		return "", false
	}
}

func idSet(imgs ...*Image) []digest.Digest { return ids(imgs) }

func TestParentRecorded(t *testing.T) {
	e := newEnv(t)
	base, a, b := e.chain("base:1")
	for _, tc := range []struct {
		img    *Image
		parent string
	}{{base, ""}, {a, base.ID.String()}, {b, a.ID.String()}} {
		got, err := e.s.Resolve(tc.img.ID.String())
		if err != nil || got.Parent != tc.parent {
			t.Errorf("parent of %s = %v, %v; want %q", ShortID(tc.img.ID), got, err, tc.parent)
		}
		// As dockerd: the parent is the store's, not in the config.
		var cfg dockerFields
		json.Unmarshal(got.RawConfig, &cfg)
		if cfg.Parent != "" {
			t.Errorf("config of %s names parent %q", ShortID(tc.img.ID), cfg.Parent)
		}
	}
}

func TestListIntermediate(t *testing.T) {
	e := newEnv(t)
	base, a, b := e.chain("base:1")
	d := e.commitOn(base, "d", "") // a dangling build result
	yes, no := true, false
	tests := []struct {
		name string
		f    ListFilter
		want []digest.Digest
	}{
		{"default hides intermediates", ListFilter{}, idSet(base, b, d)},
		{"-a shows them", ListFilter{All: true}, idSet(base, a, b, d)},
		{"dangling: untagged and no parent", ListFilter{Dangling: &yes}, idSet(d)},
		{"dangling with -a", ListFilter{All: true, Dangling: &yes}, idSet(d)},
		{"not dangling", ListFilter{Dangling: &no}, idSet(base, b)},
		{"not dangling with -a", ListFilter{All: true, Dangling: &no}, idSet(base, b)},
	}
	for _, tt := range tests {
		imgs, err := e.s.List(tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := ids(imgs); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPruneChain(t *testing.T) {
	e := newEnv(t)
	base, a, b := e.chain("base:1")
	// A tagged image's steps are not dangling.
	items, _, err := e.s.Prune(true, ListFilter{})
	if err != nil || len(items) != 0 {
		t.Fatalf("prune with only a tagged chain = %+v, %v", items, err)
	}
	// A dangling build (x -> y, both untagged) goes in one pass, child
	// first, each with its layer; base stays, tagged.
	x := e.commitOn(b, "x", "")
	y := e.commitOn(x, "y", "")
	items, reclaimed, err := e.s.Prune(true, ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []DeleteItem{{Deleted: y.ID.String()}, {Deleted: y.Layers[len(y.Layers)-1].String()},
		{Deleted: x.ID.String()}, {Deleted: x.Layers[len(x.Layers)-1].String()}}
	if !reflect.DeepEqual(items, want) || reclaimed <= 0 {
		t.Errorf("prune = %+v, %d\nwant %+v", items, reclaimed, want)
	}
	for _, img := range []*Image{base, a, b} {
		if !e.exists(img) {
			t.Errorf("prune removed %s of the tagged chain", ShortID(img.ID))
		}
	}
	// Untagged parents that a container uses stay.
	x = e.commitOn(b, "x2", "")
	y = e.commitOn(x, "y2", "")
	e.s.InUse = usedBy(x)
	items, _, err = e.s.Prune(true, ListFilter{})
	if err != nil || len(items) != 2 || items[0].Deleted != y.ID.String() || !e.exists(x) {
		t.Errorf("prune under a used parent = %+v, %v (x exists: %v)", items, err, e.exists(x))
	}
	// prune -a: tagged images whose children stay lose their tags first;
	// the last child's deletion takes the whole chain.
	e.s.InUse = nil
	if _, _, err := e.s.Prune(false, ListFilter{}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.blobs()) + len(e.layerIDs()); n != 0 {
		t.Errorf("%d blobs and layers left after prune -a", n)
	}
	if imgs, _ := e.s.List(ListFilter{All: true}); len(imgs) != 0 {
		t.Errorf("images left after prune -a: %v", ids(imgs))
	}
}

func TestRemoveChain(t *testing.T) {
	top := func(img *Image) string { return img.Layers[len(img.Layers)-1].String() }
	tests := []struct {
		name    string
		baseTag string
		noPrune bool
		setup   func(e *testEnv, base, a, b *Image)
		// want lists the deleted images, in order, each followed by its
		// top layer; stay are the images left.
		want func(base, a, b *Image) []*Image
		stay func(base, a, b *Image) []*Image
	}{
		{name: "untagged parent goes, tagged base stays", baseTag: "base:1",
			want: func(base, a, b *Image) []*Image { return []*Image{b, a} },
			stay: func(base, a, b *Image) []*Image { return []*Image{base} }},
		{name: "no-prune keeps the parent", baseTag: "base:1", noPrune: true,
			want: func(base, a, b *Image) []*Image { return []*Image{b} },
			stay: func(base, a, b *Image) []*Image { return []*Image{base, a} }},
		{name: "untagged base goes too", baseTag: "",
			want: func(base, a, b *Image) []*Image { return []*Image{b, a, base} },
			stay: func(base, a, b *Image) []*Image { return nil }},
		{name: "parent used by a container stays", baseTag: "base:1",
			setup: func(e *testEnv, base, a, b *Image) {
				e.s.InUse = usedBy(a)
			},
			want: func(base, a, b *Image) []*Image { return []*Image{b} },
			stay: func(base, a, b *Image) []*Image { return []*Image{base, a} }},
		{name: "parent with another child stays", baseTag: "base:1",
			setup: func(e *testEnv, base, a, b *Image) { e.commitOn(a, "c", "other:1") },
			want:  func(base, a, b *Image) []*Image { return []*Image{b} },
			stay:  func(base, a, b *Image) []*Image { return []*Image{base, a} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			base, a, b := e.chain(tt.baseTag)
			if tt.setup != nil {
				tt.setup(e, base, a, b)
			}
			items, err := e.s.Remove("app:1", false, tt.noPrune)
			if err != nil {
				t.Fatal(err)
			}
			want := []DeleteItem{{Untagged: "app:1"}}
			for _, img := range tt.want(base, a, b) {
				want = append(want, DeleteItem{Deleted: img.ID.String()}, DeleteItem{Deleted: top(img)})
			}
			if tt.baseTag == "" {
				// base's lower layer goes with it.
				want = append(want, DeleteItem{Deleted: base.Layers[0].String()})
			}
			if !reflect.DeepEqual(items, want) {
				t.Errorf("rmi app:1 = %+v\nwant %+v", items, want)
			}
			for _, img := range tt.stay(base, a, b) {
				if !e.exists(img) {
					t.Errorf("%s was removed", ShortID(img.ID))
				}
				if got := e.readFile(img, "etc/base1"); got != "base1\n" {
					t.Errorf("%s lost its layers: etc/base1 = %q", ShortID(img.ID), got)
				}
			}
		})
	}
}

func TestRemoveParentRefused(t *testing.T) {
	e := newEnv(t)
	base, a, _ := e.chain("base:1")
	for _, force := range []bool{false, true} {
		_, err := e.s.Remove(a.ID.String(), force, false)
		want := "conflict: unable to delete " + ShortID(a.ID) + " (cannot be forced) - image has dependent child images"
		if !errdefs.IsConflict(err) || err.Error() != want {
			t.Errorf("rmi (force %v) of a parent = %v\nwant %s", force, err, want)
		}
	}
	// By ID, a tagged parent is refused before it loses its tag.
	if _, err := e.s.Remove(base.ID.String(), true, false); !errdefs.IsConflict(err) {
		t.Errorf("rmi -f of the tagged base = %v", err)
	}
	if got, _ := e.s.Resolve("base:1"); got == nil || got.ID != base.ID {
		t.Errorf("base:1 lost its tag")
	}
	// By name, the tag goes and the image stays under its child, as an
	// intermediate image.
	items, err := e.s.Remove("base:1", false, false)
	if err != nil || !reflect.DeepEqual(items, []DeleteItem{{Untagged: "base:1"}}) || !e.exists(base) {
		t.Errorf("rmi base:1 = %+v, %v (exists: %v)", items, err, e.exists(base))
	}
}

// GC keeps what intermediate images use: their layers and blobs.
func TestGCKeepsIntermediates(t *testing.T) {
	e := newEnv(t)
	_, a, b := e.chain("base:1")
	if _, err := e.s.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
	layers, blobs := e.layerIDs(), e.blobs()
	for _, c := range a.Layers {
		if !layers[c] {
			t.Errorf("layer %s of intermediate %s collected", c, ShortID(a.ID))
		}
	}
	for _, d := range []digest.Digest{a.ID, a.Manifest, b.ID, b.Manifest} {
		if !blobs[d] {
			t.Errorf("blob %s collected", d)
		}
	}
	if got := e.readFile(a, "etc/a"); got != "a\n" {
		t.Errorf("etc/a in a = %q", got)
	}
}

func TestBuildCache(t *testing.T) {
	e := newEnv(t)
	base, a, b := e.chain("base:1")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.s.CachePut(base.ID, a.ID, "RUN a"))
	must(e.s.CachePut(a.ID, b.ID, "RUN b"))
	must(e.s.CachePut("", base.ID, "FROM scratch step"))
	tests := []struct {
		parent digest.Digest
		key    string
		want   digest.Digest // "" for NotFound
	}{
		{base.ID, "RUN a", a.ID},
		{a.ID, "RUN b", b.ID},
		{"", "FROM scratch step", base.ID},
		{base.ID, "RUN b", ""},
		{b.ID, "RUN a", ""},
	}
	for _, tt := range tests {
		img, err := e.s.CacheGet(tt.parent, tt.key)
		switch {
		case tt.want == "" && !errdefs.IsNotFound(err):
			t.Errorf("CacheGet(%s, %q) = %v, %v; want not found", ShortID(tt.parent), tt.key, img, err)
		case tt.want != "" && (err != nil || img.ID != tt.want):
			t.Errorf("CacheGet(%s, %q) = %v, %v; want %s", ShortID(tt.parent), tt.key, img, err, ShortID(tt.want))
		}
	}
	if err := e.s.CachePut(base.ID, digest.FromString("gone"), "k"); !errdefs.IsNotFound(err) {
		t.Errorf("CachePut of a missing image = %v", err)
	}

	// Nothing a tagged image needs is pruned: rows and images stay.
	x := e.commitOn(b, "x", "")
	y := e.commitOn(x, "y", "")
	z := e.commitOn(base, "z", "")
	must(e.s.CachePut(b.ID, x.ID, "RUN x"))
	must(e.s.CachePut(x.ID, y.ID, "RUN y"))
	must(e.s.CachePut(base.ID, z.ID, "RUN z"))
	e.s.InUse = usedBy(z)
	reclaimed, err := e.s.CachePrune(context.Background(), false)
	if err != nil || reclaimed <= 0 {
		t.Fatalf("CachePrune = %d, %v", reclaimed, err)
	}
	for _, tc := range []struct {
		img  *Image
		stay bool
	}{{base, true}, {a, true}, {b, true}, {x, false}, {y, false}, {z, true}} {
		if e.exists(tc.img) != tc.stay {
			t.Errorf("after CachePrune: %s exists %v, want %v", ShortID(tc.img.ID), !tc.stay, tc.stay)
		}
	}
	if _, err := e.s.CacheGet(x.ID, "RUN y"); !errdefs.IsNotFound(err) {
		t.Errorf("cache row of a pruned image = %v", err)
	}
	if img, err := e.s.CacheGet(base.ID, "RUN a"); err != nil || img.ID != a.ID {
		t.Errorf("row of a kept image after CachePrune = %v, %v", img, err)
	}
	// all drops every row; the images stay.
	if _, err := e.s.CachePrune(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CacheGet(base.ID, "RUN a"); !errdefs.IsNotFound(err) || !e.exists(a) {
		t.Errorf("after CachePrune all: row %v, a exists %v", err, e.exists(a))
	}

	// Deleting an image drops its rows.
	e.s.InUse = nil
	must(e.s.CachePut(a.ID, b.ID, "RUN b"))
	if _, err := e.s.Remove("app:1", false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CacheGet(a.ID, "RUN b"); !errdefs.IsNotFound(err) {
		t.Errorf("row of a removed image = %v", err)
	}
}

func TestHistoryParents(t *testing.T) {
	e := newEnv(t)
	base, a, b := e.chain("base:1") // base has two history lines
	items, err := e.s.History("app:1")
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		id        string
		createdBy string
		tags      []string
	}
	want := []line{
		{b.ID.String(), "RUN b", []string{"app:1"}},
		{a.ID.String(), "RUN a", nil},
		{base.ID.String(), "step 2", []string{"base:1"}},
		{"<missing>", "step 1", nil},
	}
	var got []line
	for _, it := range items {
		l := line{it.ID, it.CreatedBy, it.Tags}
		if len(l.tags) == 0 {
			l.tags = nil
		}
		got = append(got, l)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("history = %+v\nwant %+v", got, want)
	}
}

func TestCommitConfigExtensions(t *testing.T) {
	e := newEnv(t)
	cfg := dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"app"}}}
	cfg.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second, Retries: 3}
	cfg.OnBuild = []string{"RUN echo child"}
	cfg.Shell = []string{"/bin/bash", "-c"}
	img, err := e.s.CommitConfig(context.Background(), nil, bytes.NewReader(e.simpleLayer("c")), cfg, ocispec.History{CreatedBy: "x"}, "ext:1")
	if err != nil {
		t.Fatal(err)
	}
	if got := ConfigOf(img); !reflect.DeepEqual(got, cfg) {
		t.Errorf("ConfigOf = %+v\nwant %+v", got, cfg)
	}
	// Docker's names, under "config", as image inspect reads them.
	var doc struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(img.RawConfig, &doc); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Healthcheck": `{"Test":["CMD-SHELL","true"],"Interval":5000000000,"Retries":3}`,
		"OnBuild":     `["RUN echo child"]`,
		"Shell":       `["/bin/bash","-c"]`,
		"Cmd":         `["app"]`,
	} {
		if got := string(doc.Config[k]); got != want {
			t.Errorf("config.%s = %s, want %s", k, got, want)
		}
	}
	// Plain Commit writes none of them.
	plain := e.commitOn(img, "p", "")
	if got := ConfigOf(plain); got.Healthcheck != nil || got.OnBuild != nil || got.Shell != nil {
		t.Errorf("Commit wrote Docker extensions: %+v", got)
	}
}
