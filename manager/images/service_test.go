package images

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func TestResolve(t *testing.T) {
	e := newEnv(t)
	img := e.makeImage(imageSpec{tags: []string{"busybox:latest", "localhost:5000/tools/bb:1"}, layers: [][]byte{e.simpleLayer("a")}, repoDigest: "busybox"})
	if len(img.RepoDigests) != 1 || !strings.HasPrefix(img.RepoDigests[0], "busybox@sha256:") {
		t.Fatalf("RepoDigests = %q", img.RepoDigests)
	}
	for _, ref := range []string{
		"busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox",
		"localhost:5000/tools/bb:1", img.RepoDigests[0], img.ID.String(), img.ID.Encoded(),
		img.ID.Encoded()[:12], "sha256:" + img.ID.Encoded()[:8],
	} {
		got, err := e.s.Resolve(ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
			continue
		}
		if got.ID != img.ID {
			t.Errorf("Resolve(%q) = %s, want %s", ref, got.ID, img.ID)
		}
	}
	want := []string{"busybox:latest", "localhost:5000/tools/bb:1"}
	if !reflect.DeepEqual(img.RepoTags, want) {
		t.Errorf("RepoTags = %q, want %q", img.RepoTags, want)
	}
	for ref, msg := range map[string]string{
		"nope":            "No such image: nope:latest",
		"busybox:2":       "No such image: busybox:2",
		"sha256:ffffffff": "No such image: sha256:ffffffff",
	} {
		_, err := e.s.Resolve(ref)
		if !errdefs.IsNotFound(err) || err.Error() != msg {
			t.Errorf("Resolve(%q) = %v, want not-found %q", ref, err, msg)
		}
	}
	if _, err := e.s.Resolve("Bad/Name"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Resolve(Bad/Name) = %v, want invalid argument", err)
	}
}

func TestTagMovesAndRegisterMoves(t *testing.T) {
	e := newEnv(t)
	a := e.makeImage(imageSpec{tags: []string{"app:1"}, layers: [][]byte{e.simpleLayer("a")}})
	b := e.makeImage(imageSpec{layers: [][]byte{e.simpleLayer("b")}})
	if err := e.s.Tag(b.ID.Encoded()[:12], "app:1"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Tag("app:1", "other"); err != nil {
		t.Fatal(err)
	}
	got, _ := e.s.Resolve("other:latest")
	if got == nil || got.ID != b.ID {
		t.Fatalf("other:latest = %v, want %s", got, b.ID)
	}
	a, _ = e.s.Resolve(a.ID.String())
	if len(a.RepoTags) != 0 {
		t.Errorf("old image still has %q", a.RepoTags)
	}
	if err := e.s.Tag("app:1", "app@sha256:"+strings.Repeat("0", 64)); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Tag to a digest = %v, want invalid argument", err)
	}
	if err := e.s.Tag("missing", "x"); !errdefs.IsNotFound(err) {
		t.Errorf("Tag of a missing image = %v, want not found", err)
	}
	// A registration (pull/load) moves the tag back.
	c := e.makeImage(imageSpec{tags: []string{"app:1"}, layers: [][]byte{e.simpleLayer("c")}})
	got, _ = e.s.Resolve("app:1")
	if got.ID != c.ID {
		t.Errorf("app:1 = %s after register, want %s", got.ID, c.ID)
	}
}

func TestRemove(t *testing.T) {
	e := newEnv(t)
	base := e.simpleLayer("base")
	a := e.makeImage(imageSpec{tags: []string{"a:1", "a:2"}, layers: [][]byte{base, e.simpleLayer("top-a")}})
	b := e.makeImage(imageSpec{tags: []string{"b"}, layers: [][]byte{base, e.simpleLayer("top-b")}})

	// A name untags only while other names are left.
	items, err := e.s.Remove("a:1", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []DeleteItem{{Untagged: "a:1"}}; !reflect.DeepEqual(items, want) {
		t.Errorf("rmi a:1 = %+v, want %+v", items, want)
	}
	// By ID, several names need force.
	e.s.Tag("a:2", "z")
	_, err = e.s.Remove(ShortID(a.ID), false, false)
	if !errdefs.IsConflict(err) || err.Error() != "conflict: unable to delete "+ShortID(a.ID)+" (must be forced) - image is referenced in multiple repositories" {
		t.Errorf("rmi by ID with two names = %v", err)
	}
	items, err = e.s.Remove(ShortID(a.ID), true, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []DeleteItem{{Untagged: "a:2"}, {Untagged: "z:latest"}, {Deleted: a.ID.String()}, {Deleted: a.Layers[1].String()}}
	if !reflect.DeepEqual(items, want) {
		t.Errorf("rmi -f = %+v\nwant %+v", items, want)
	}
	// The shared base stays with b; a's top layer and blobs are gone.
	layers := e.layerIDs()
	if !layers[a.Layers[0]] || layers[a.Layers[1]] {
		t.Errorf("layers after rmi: %v (base %s must stay, top %s must go)", layers, a.Layers[0], a.Layers[1])
	}
	blobs := e.blobs()
	if blobs[a.ID] || blobs[a.Manifest] {
		t.Errorf("a's config or manifest blob is still in the content store")
	}
	if !blobs[b.ID] || !blobs[b.Manifest] {
		t.Errorf("b's blobs were collected")
	}
	// The last name of b deletes it and everything under it.
	items, err = e.s.Remove("b", false, false)
	if err != nil {
		t.Fatal(err)
	}
	want = []DeleteItem{{Untagged: "b:latest"}, {Deleted: b.ID.String()}, {Deleted: b.Layers[1].String()}, {Deleted: b.Layers[0].String()}}
	if !reflect.DeepEqual(items, want) {
		t.Errorf("rmi b = %+v\nwant %+v", items, want)
	}
	if n := len(e.layerIDs()); n != 0 {
		t.Errorf("%d layers left", n)
	}
	if n := len(e.blobs()); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if _, err := e.s.Remove("b", false, false); !errdefs.IsNotFound(err) {
		t.Errorf("rmi of a removed image = %v, want not found", err)
	}
}

func TestRemoveTagTakesRepoDigests(t *testing.T) {
	e := newEnv(t)
	img := e.makeImage(imageSpec{tags: []string{"busybox"}, layers: [][]byte{e.simpleLayer("x")}, repoDigest: "busybox"})
	e.s.Tag("busybox", "mine:1")
	items, err := e.s.Remove("busybox", false, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []DeleteItem{{Untagged: "busybox:latest"}, {Untagged: img.RepoDigests[0]}}
	if !reflect.DeepEqual(items, want) {
		t.Errorf("rmi busybox = %+v\nwant %+v", items, want)
	}
	got, err := e.s.Resolve("mine:1")
	if err != nil || len(got.RepoDigests) != 0 {
		t.Errorf("image after untag: %v, %v", got, err)
	}
}

func TestRemoveByIDWithTagAndDigest(t *testing.T) {
	e := newEnv(t)
	img := e.makeImage(imageSpec{tags: []string{"busybox"}, layers: [][]byte{e.simpleLayer("x")}, repoDigest: "busybox"})
	items, err := e.s.Remove(img.ID.String(), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 4 || items[0].Untagged != "busybox:latest" || items[1].Untagged != img.RepoDigests[0] || items[2].Deleted != img.ID.String() {
		t.Errorf("rmi by ID = %+v", items)
	}
}

func TestRemoveInUse(t *testing.T) {
	e := newEnv(t)
	img := e.makeImage(imageSpec{tags: []string{"web"}, layers: [][]byte{e.simpleLayer("w")}})
	running := true
	e.s.InUse = func(id digest.Digest) (string, bool) {
		if id == img.ID {
			return "0123456789abcdef0123", running
		}
		return "", false
	}
	_, err := e.s.Remove("web", false, false)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "container 0123456789ab is using its referenced image "+ShortID(img.ID)) {
		t.Errorf("rmi of a used image's last name = %v", err)
	}
	_, err = e.s.Remove(img.ID.String(), true, false)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "(cannot be forced) - image is being used by running container 0123456789ab") {
		t.Errorf("rmi -f of a running container's image = %v", err)
	}
	running = false
	_, err = e.s.Remove(img.ID.String(), false, false)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "(must be forced) - image is being used by stopped container 0123456789ab") {
		t.Errorf("rmi of a stopped container's image = %v", err)
	}
	// Forcing the name of a running container's image untags it but
	// leaves the image to its container.
	running = true
	items, err := e.s.Remove("web", true, false)
	if err != nil || len(items) != 1 || items[0].Untagged != "web:latest" {
		t.Errorf("rmi -f web = %+v, %v", items, err)
	}
	if _, err := e.s.Resolve(img.ID.String()); err != nil {
		t.Errorf("image gone while a container uses it: %v", err)
	}
	// A stopped container's image goes with force (Docker's soft
	// conflict), even by name.
	running = false
	e.s.Tag(img.ID.String(), "web")
	items, err = e.s.Remove("web", true, false)
	if err != nil || len(items) < 3 || items[0].Untagged != "web:latest" || items[1].Deleted != img.ID.String() {
		t.Errorf("rmi -f of a stopped container's image = %+v, %v", items, err)
	}
	// Prune leaves used images alone.
	used := e.makeImage(imageSpec{layers: [][]byte{e.simpleLayer("u")}})
	e.s.InUse = func(id digest.Digest) (string, bool) { return "c1", id == used.ID }
	if items, _, err := e.s.Prune(true, ListFilter{}); err != nil || len(items) != 0 {
		t.Errorf("prune of a used dangling image = %+v, %v", items, err)
	}
}

func TestPrune(t *testing.T) {
	e := newEnv(t)
	dangling := e.makeImage(imageSpec{layers: [][]byte{e.simpleLayer("d")}})
	tagged := e.makeImage(imageSpec{tags: []string{"keep"}, layers: [][]byte{e.simpleLayer("k")}, labels: map[string]string{"tier": "web"}})
	other := e.makeImage(imageSpec{tags: []string{"other"}, layers: [][]byte{e.simpleLayer("o")}})

	items, reclaimed, err := e.s.Prune(true, ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Deleted != dangling.ID.String() || items[1].Deleted != dangling.Layers[0].String() || reclaimed <= 0 {
		t.Errorf("prune dangling = %+v, %d", items, reclaimed)
	}
	// All unused, but only those without the label.
	items, _, err = e.s.Prune(false, ListFilter{LabelNot: []string{"tier=web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].Untagged != "other:latest" || items[1].Deleted != other.ID.String() {
		t.Errorf("prune -a label!=tier=web = %+v", items)
	}
	if _, err := e.s.Resolve("keep"); err != nil {
		t.Errorf("keep was pruned: %v", err)
	}
	// Until excludes images created after the time.
	items, _, err = e.s.Prune(false, ListFilter{Until: "2023-01-01T00:00:00Z"})
	if err != nil || len(items) != 0 {
		t.Errorf("prune -a until 2023 = %+v, %v", items, err)
	}
	items, _, err = e.s.Prune(false, ListFilter{Label: []string{"tier"}})
	if err != nil || len(items) != 3 || items[1].Deleted != tagged.ID.String() {
		t.Errorf("prune -a label=tier = %+v, %v", items, err)
	}
	if n := len(e.blobs()) + len(e.layerIDs()); n != 0 {
		t.Errorf("%d blobs and layers left after pruning everything", n)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t)
	a := e.makeImage(imageSpec{tags: []string{"busybox:1", "busybox:2"}, layers: [][]byte{e.simpleLayer("a")}, labels: map[string]string{"x": "1"}})
	b := e.makeImage(imageSpec{tags: []string{"alpine"}, layers: [][]byte{e.simpleLayer("b")}})
	c := e.makeImage(imageSpec{layers: [][]byte{e.simpleLayer("c")}})
	yes, no := true, false
	tests := []struct {
		name string
		f    ListFilter
		want []digest.Digest
	}{
		{"all, newest first", ListFilter{}, []digest.Digest{c.ID, b.ID, a.ID}},
		{"dangling", ListFilter{Dangling: &yes}, []digest.Digest{c.ID}},
		{"not dangling", ListFilter{Dangling: &no}, []digest.Digest{b.ID, a.ID}},
		{"reference", ListFilter{Reference: []string{"busy*"}}, []digest.Digest{a.ID}},
		{"before", ListFilter{Before: "alpine"}, []digest.Digest{a.ID}},
		{"since", ListFilter{Since: "busybox:1"}, []digest.Digest{c.ID, b.ID}},
		{"label", ListFilter{Label: []string{"x=1"}}, []digest.Digest{a.ID}},
	}
	for _, tt := range tests {
		imgs, err := e.s.List(tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got []digest.Digest
		for _, img := range imgs {
			got = append(got, img.ID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	imgs, _ := e.s.List(ListFilter{Reference: []string{"busybox:2"}})
	if len(imgs) != 1 || !reflect.DeepEqual(imgs[0].RepoTags, []string{"busybox:2"}) {
		t.Errorf("reference filter shows names %v, want only busybox:2", imgs)
	}
	if _, err := e.s.List(ListFilter{Before: "nope"}); !errdefs.IsNotFound(err) {
		t.Errorf("before a missing image = %v, want not found", err)
	}
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	small, big := e.simpleLayer("s"), layerTar(t, tfile{name: "big", body: strings.Repeat("x", 10000)})
	img := e.makeImage(imageSpec{tags: []string{"h:1"}, layers: [][]byte{small, big}, emptySteps: true})
	hist, err := e.s.History("h:1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, h.CreatedBy)
	}
	if want := []string{"empty 2", "step 2", "empty 1", "step 1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("history steps %q, want %q", got, want)
	}
	if hist[0].ID != img.ID.String() || !reflect.DeepEqual(hist[0].Tags, []string{"h:1"}) || hist[1].ID != "<missing>" {
		t.Errorf("history IDs/tags: %+v", hist)
	}
	if hist[0].Size != 0 || hist[2].Size != 0 || hist[1].Size != 10000 || hist[3].Size <= 0 {
		t.Errorf("history sizes %d %d %d %d, want 0 10000 0 >0", hist[0].Size, hist[1].Size, hist[2].Size, hist[3].Size)
	}
}

func TestDiskUsage(t *testing.T) {
	e := newEnv(t)
	base := layerTar(t, tfile{name: "base", body: strings.Repeat("b", 5000)})
	e.makeImage(imageSpec{tags: []string{"one"}, layers: [][]byte{base, e.simpleLayer("1")}})
	e.makeImage(imageSpec{tags: []string{"two"}, layers: [][]byte{base}})
	du, err := e.s.DiskUsage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(du.Images) != 2 || du.LayersSize <= 5000 || du.BlobsSize <= 0 {
		t.Fatalf("df = %+v", du)
	}
	sort.Slice(du.Images, func(i, j int) bool { return du.Images[i].RepoTags[0] < du.Images[j].RepoTags[0] })
	if du.Images[0].SharedSize != 5000 || du.Images[1].SharedSize != 5000 || du.Images[0].Size <= 5000 {
		t.Errorf("shared sizes %d %d (sizes %d %d), want 5000 each", du.Images[0].SharedSize, du.Images[1].SharedSize, du.Images[0].Size, du.Images[1].Size)
	}
}

func TestGCWaitsForLeases(t *testing.T) {
	e := newEnv(t)
	img := e.makeImage(imageSpec{tags: []string{"x"}, layers: [][]byte{e.simpleLayer("x")}})
	orphan, _, err := e.cs.Put(strings.NewReader("orphan"), "", -1)
	if err != nil {
		t.Fatal(err)
	}
	release := e.s.Lease()
	if n, err := e.s.GC(context.Background()); err != nil || n != 0 {
		t.Errorf("GC under a lease = %d, %v; want 0", n, err)
	}
	// rmi under a lease deletes the image but not yet its data.
	if _, err := e.s.Remove("x", false, false); err != nil {
		t.Fatal(err)
	}
	if !e.blobs()[orphan] || !e.layerIDs()[img.Layers[0]] {
		t.Fatal("GC ran while a lease was held")
	}
	release()
	release() // a second call is harmless
	if e.blobs()[orphan] || e.layerIDs()[img.Layers[0]] {
		t.Error("the deferred GC did not run when the lease was released")
	}
	n, err := e.s.GC(context.Background())
	if err != nil || n != 0 {
		t.Errorf("GC of an empty store = %d, %v", n, err)
	}
}
