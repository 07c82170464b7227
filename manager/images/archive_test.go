package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/progress"
)

// tarFiles reads a tar into name -> content (links as "-> target").
func tarFiles(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			c, _ := io.ReadAll(tr)
			out[h.Name] = string(c)
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		}
	}
}

// twoImages makes two images sharing a base layer, with a whiteout, a
// symlink and a hardlink in their layers.
func twoImages(e *testEnv) (*Image, *Image) {
	t := e.t
	base := layerTar(t,
		tfile{name: "bin/", typ: tar.TypeDir},
		tfile{name: "bin/tool", body: "#!/bin/sh\necho tool\n", mode: 0o755},
		tfile{name: "bin/alias", typ: tar.TypeSymlink, link: "tool"},
		tfile{name: "bin/hard", typ: tar.TypeLink, link: "bin/tool"},
		tfile{name: "etc/", typ: tar.TypeDir},
		tfile{name: "etc/gone", body: "to be removed"},
	)
	top := layerTar(t, tfile{name: "etc/", typ: tar.TypeDir}, tfile{name: "etc/.wh.gone"}, tfile{name: "etc/motd", body: "hello\n"})
	a := e.makeImage(imageSpec{tags: []string{"app:1", "app:latest"}, layers: [][]byte{base, top}, emptySteps: true})
	b := e.makeImage(imageSpec{tags: []string{"localhost:5000/other:2"}, layers: [][]byte{base}})
	return a, b
}

func removeAll(t *testing.T, e *testEnv) {
	t.Helper()
	imgs, err := e.s.List(ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if _, err := e.s.Remove(img.ID.String(), true, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.blobs()) + len(e.layerIDs()); n != 0 {
		t.Fatalf("%d blobs and layers left after removing every image", n)
	}
}

func TestSaveDockerArchive(t *testing.T) {
	e := newEnv(t)
	a, b := twoImages(e)
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{"app", "localhost:5000/other:2"}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, buf.Bytes())
	var manifest []dockerManifestEntry
	if err := json.Unmarshal([]byte(files["manifest.json"]), &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 2 {
		t.Fatalf("manifest.json has %d images, want 2", len(manifest))
	}
	// "app" without a tag saves all of app's tags.
	if got := manifest[0].RepoTags; !reflect.DeepEqual(got, []string{"app:1", "app:latest"}) {
		t.Errorf("RepoTags = %q", got)
	}
	if manifest[0].Config != a.ID.Encoded()+".json" || files[manifest[0].Config] != string(a.RawConfig) {
		t.Errorf("config file %s missing or different", manifest[0].Config)
	}
	for i, lp := range manifest[0].Layers {
		if !strings.HasSuffix(lp, "/layer.tar") {
			t.Errorf("layer path %s is not Docker 20.10's <id>/layer.tar", lp)
		}
		dir := strings.TrimSuffix(lp, "/layer.tar")
		if files[dir+"/VERSION"] != "1.0" || !json.Valid([]byte(files[dir+"/json"])) {
			t.Errorf("layer dir %s lacks VERSION or json", dir)
		}
		if got := digest.FromString(files[lp]); got != a.DiffIDs[i] {
			t.Errorf("layer %d: layer.tar has digest %s, want diff ID %s", i, got, a.DiffIDs[i])
		}
	}
	// b's only layer is a's base: written once, linked the second time.
	if lp := manifest[1].Layers[0]; files[lp] != "-> ../"+manifest[0].Layers[0] {
		t.Errorf("shared layer %s = %.40q, want a link to %s", lp, files[lp], manifest[0].Layers[0])
	}
	var repos map[string]map[string]string
	if err := json.Unmarshal([]byte(files["repositories"]), &repos); err != nil {
		t.Fatalf("repositories: %v", err)
	}
	top := strings.TrimSuffix(manifest[0].Layers[1], "/layer.tar")
	if repos["app"]["1"] != top || repos["localhost:5000/other"]["2"] == "" {
		t.Errorf("repositories = %v", repos)
	}

	// Load it back into an empty store.
	removeAll(t, e)
	rec := &progress.Recorder{}
	loaded, err := e.s.Load(context.Background(), bytes.NewReader(buf.Bytes()), rec)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(loaded)
	if want := []string{"app:1", "app:latest", "localhost:5000/other:2"}; !reflect.DeepEqual(loaded, want) {
		t.Errorf("loaded %q, want %q", loaded, want)
	}
	checkLoaded(t, e, a, b)
	if len(rec.Events()) == 0 || rec.Events()[0].Status != "Loading layer" {
		t.Errorf("progress events: %+v", rec.Events())
	}
}

// checkLoaded checks that the images came back with the same IDs, names
// and files.
func checkLoaded(t *testing.T, e *testEnv, a, b *Image) {
	t.Helper()
	la, err := e.s.Resolve("app:1")
	if err != nil {
		t.Fatal(err)
	}
	if la.ID != a.ID || !reflect.DeepEqual(la.Layers, a.Layers) || !reflect.DeepEqual(la.RepoTags, a.RepoTags) {
		t.Errorf("loaded app:1 = %s %v %v, want %s %v %v", la.ID, la.Layers, la.RepoTags, a.ID, a.Layers, a.RepoTags)
	}
	if lb, err := e.s.Resolve("localhost:5000/other:2"); err != nil || lb.ID != b.ID {
		t.Errorf("loaded other:2 = %v, %v", lb, err)
	}
	if got := e.readFile(la, "etc/motd"); got != "hello\n" {
		t.Errorf("etc/motd = %q", got)
	}
	if got := e.readFile(la, "bin/hard"); got != "#!/bin/sh\necho tool\n" {
		t.Errorf("bin/hard = %q", got)
	}
	// Saving again must work from what the load kept (layer blobs).
	if err := e.s.Save(context.Background(), io.Discard, []string{"app:1"}, SaveOCI); err != nil {
		t.Errorf("save after load: %v", err)
	}
}

func TestSaveOCIArchive(t *testing.T) {
	e := newEnv(t)
	a, b := twoImages(e)
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{"app:1", "app:latest", b.ID.Encoded()[:12], "localhost:5000/other:2"}, SaveOCI); err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, buf.Bytes())
	if files["oci-layout"] != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", files["oci-layout"])
	}
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(files["index.json"]), &idx); err != nil {
		t.Fatal(err)
	}
	var names, refs []string
	for _, d := range idx.Manifests {
		names = append(names, d.Annotations[annotationImageName])
		refs = append(refs, d.Annotations[ocispec.AnnotationRefName])
		mb := files[blobPath(d.Digest)]
		if digest.FromString(mb) != d.Digest || d.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("manifest %s missing, wrong or of type %s", d.Digest, d.MediaType)
		}
	}
	if want := []string{"docker.io/library/app:1", "docker.io/library/app:latest", "localhost:5000/other:2"}; !reflect.DeepEqual(names, want) {
		t.Errorf("index names %q, want %q", names, want)
	}
	if want := []string{"1", "latest", "2"}; !reflect.DeepEqual(refs, want) {
		t.Errorf("index ref.names %q, want %q", refs, want)
	}
	for path, body := range files {
		if d, ok := isBlobPath(path); ok && digest.FromString(body) != d {
			t.Errorf("blob %s has the wrong content", path)
		}
	}
	var manifest []dockerManifestEntry
	if err := json.Unmarshal([]byte(files["manifest.json"]), &manifest); err != nil || len(manifest) != 2 || manifest[0].Config != blobPath(a.ID) {
		t.Errorf("manifest.json beside the layout = %+v, %v", manifest, err)
	}

	removeAll(t, e)
	// Without manifest.json it is read as the OCI layout it is.
	var onlyOCI bytes.Buffer
	tw := tar.NewWriter(&onlyOCI)
	for name, body := range files {
		if name == "manifest.json" {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	loaded, err := e.s.Load(context.Background(), bytes.NewReader(gzipBytes(t, onlyOCI.Bytes())), nil)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(loaded)
	if want := []string{"app:1", "app:latest", "localhost:5000/other:2"}; !reflect.DeepEqual(loaded, want) {
		t.Errorf("loaded %q, want %q", loaded, want)
	}
	checkLoaded(t, e, a, b)
	// And with manifest.json it is read as Docker 25's archive, keeping
	// the manifest the index names.
	removeAll(t, e)
	if _, err := e.s.Load(context.Background(), bytes.NewReader(buf.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	checkLoaded(t, e, a, b)
	if la, _ := e.s.Resolve("app:1"); la == nil || la.Manifest != idx.Manifests[0].Digest {
		t.Errorf("loaded app:1 has manifest %v, want %s from index.json", la, idx.Manifests[0].Digest)
	}
}

func TestLoadMovesTagsAndReportsUntagged(t *testing.T) {
	e := newEnv(t)
	a := e.makeImage(imageSpec{tags: []string{"x:1"}, layers: [][]byte{e.simpleLayer("a")}})
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{a.ID.String()}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, buf.Bytes())
	if files["manifest.json"] != `[{"Config":"`+a.ID.Encoded()+`.json","RepoTags":null,"Layers":["`+strings.TrimSuffix(strings.Split(files["manifest.json"], `"Layers":["`)[1], `"]}]`)+`"]}]` {
		t.Errorf("manifest.json of an image saved by ID: %s", files["manifest.json"])
	}
	if _, ok := files["repositories"]; ok {
		t.Error("repositories written for an untagged save")
	}
	b := e.makeImage(imageSpec{tags: []string{"x:1"}, layers: [][]byte{e.simpleLayer("b")}})
	loaded, err := e.s.Load(context.Background(), bytes.NewReader(buf.Bytes()), nil)
	if err != nil || !reflect.DeepEqual(loaded, []string{a.ID.String()}) {
		t.Errorf("load of an untagged image = %q, %v", loaded, err)
	}
	// Saved with its tag, it takes the tag back from b.
	buf.Reset()
	e.s.Tag(a.ID.String(), "x:1")
	e.s.Save(context.Background(), &buf, []string{"x:1"}, SaveDocker)
	e.s.Tag(b.ID.String(), "x:1")
	rec := &progress.Recorder{}
	if _, err := e.s.Load(context.Background(), bytes.NewReader(buf.Bytes()), rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s.Resolve("x:1"); got.ID != a.ID {
		t.Errorf("x:1 = %s after load, want %s", got.ID, a.ID)
	}
	ev := rec.Events()
	if len(ev) == 0 || !strings.Contains(ev[len(ev)-1].Status, "The image x:1 already exists, renaming the old one with ID "+b.ID.String()) {
		t.Errorf("no rename message: %+v", ev)
	}
}

// writeTar makes a tar of regular files (and symlinks, "-> target").
func writeTar(t *testing.T, files [][2]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}
		if strings.HasPrefix(f[1], "-> ") {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f[1][3:], 0
		}
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(f[1]))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestLoadRefusesBadArchives(t *testing.T) {
	e := newEnv(t)
	layer := e.simpleLayer("l")
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromBytes(layer).String() + `"]}}`
	cfgName := digest.FromString(cfg).Encoded() + ".json"
	good := [][2]string{{"l/layer.tar", string(layer)}, {cfgName, cfg}, {"manifest.json", `[{"Config":"` + cfgName + `","RepoTags":["bad:1"],"Layers":["l/layer.tar"]}]`}}
	if _, err := e.s.Load(context.Background(), bytes.NewReader(writeTar(t, good)), nil); err != nil {
		t.Fatalf("the good archive does not load: %v", err)
	}
	removeAll(t, e)
	otherLayer := e.simpleLayer("other")
	tests := []struct {
		name  string
		files [][2]string
		want  string
	}{
		{"no index", [][2]string{{"x", "y"}}, "neither manifest.json"},
		{"escape", [][2]string{{"../evil", "x"}, good[2]}, "leaves the archive"},
		{"absolute", [][2]string{{"/evil", "x"}, good[2]}, "absolute"},
		{"link out", [][2]string{{"l/layer.tar", "-> /etc/passwd"}, good[1], good[2]}, "outside the archive"},
		{"missing layer", good[1:], "l/layer.tar is missing"},
		{"wrong diff id", [][2]string{{"l/layer.tar", string(otherLayer)}, good[1], good[2]}, "diff id"},
		{"bad manifest", [][2]string{good[0], good[1], {"manifest.json", `{"not":"a list"}`}}, "manifest.json"},
		{"bad tag", [][2]string{good[0], good[1], {"manifest.json", `[{"Config":"` + cfgName + `","RepoTags":["Bad:1"],"Layers":["l/layer.tar"]}]`}}, "invalid reference format"},
		{"blob digest mismatch", [][2]string{{"blobs/sha256/" + digest.FromString("x").Encoded(), "not x"}, {"index.json", `{"schemaVersion":2,"manifests":[]}`}}, "digest"},
		{"layer count", [][2]string{good[0], good[1], {"manifest.json", `[{"Config":"` + cfgName + `","Layers":["l/layer.tar","l/layer.tar"]}]`}}, "2 layers but 1 diff IDs"},
		{"oci manifest missing", [][2]string{{"index.json", `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromString("m").String() + `","size":1}]}`}}, "not found"},
		{"not a tar", nil, "reading the archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := writeTar(t, tt.files)
			if tt.files == nil {
				in = []byte(strings.Repeat("garbage!", 200))
			}
			_, err := e.s.Load(context.Background(), bytes.NewReader(in), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want an error with %q", err, tt.want)
			}
			imgs, _ := e.s.List(ListFilter{})
			if len(imgs) != 0 || len(e.blobs()) != 0 || len(e.layerIDs()) != 0 {
				t.Errorf("a failed load left %d images, %d blobs, %d layers", len(imgs), len(e.blobs()), len(e.layerIDs()))
			}
		})
	}
	_, err := e.s.Load(context.Background(), bytes.NewReader(writeTar(t, [][2]string{{"x", "y"}})), nil)
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("error kind of a bad archive: %v", err)
	}
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	rootfs := layerTar(t, tfile{name: "bin/", typ: tar.TypeDir}, tfile{name: "bin/hello", body: "hi", mode: 0o755}, tfile{name: "etc/", typ: tar.TypeDir}, tfile{name: "etc/os-release", body: "ID=test\n"})
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"plain", rootfs}, {"gzip", gzipBytes(t, rootfs)}} {
		t.Run(tc.name, func(t *testing.T) {
			// The config --change instructions make (build.ApplyChanges).
			cfg := dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
				Cmd: []string{"/bin/hello"}, Env: []string{"A=1"}, ExposedPorts: map[string]struct{}{"80/tcp": {}},
				WorkingDir: "/srv", Labels: map[string]string{"k": "v"}, User: "1000",
				Volumes: map[string]struct{}{"/data": {}}, StopSignal: "SIGINT", Entrypoint: []string{"/bin/sh", "-c", "/bin/sh"},
			}}
			img, err := e.s.Import(context.Background(), bytes.NewReader(tc.in), "imported:"+tc.name, cfg, "", ocispec.Platform{})
			if err != nil {
				t.Fatal(err)
			}
			c := img.Config
			if !reflect.DeepEqual(c.Config.Cmd, []string{"/bin/hello"}) || c.Config.WorkingDir != "/srv" || c.Config.User != "1000" ||
				c.Config.Labels["k"] != "v" || c.Config.StopSignal != "SIGINT" || !reflect.DeepEqual(c.Config.Entrypoint, []string{"/bin/sh", "-c", "/bin/sh"}) {
				t.Errorf("config = %+v", c.Config)
			}
			if len(c.History) != 1 || c.History[0].Comment != "Imported from -" || img.Comment != "Imported from -" || c.OS != "linux" || c.Architecture == "" {
				t.Errorf("history/comment/platform = %+v %q %s/%s", c.History, img.Comment, c.OS, c.Architecture)
			}
			if !reflect.DeepEqual(img.DiffIDs, []digest.Digest{digest.FromBytes(rootfs)}) || img.RepoTags[0] != "imported:"+tc.name {
				t.Errorf("diff IDs %v, tags %v", img.DiffIDs, img.RepoTags)
			}
			if got := e.readFile(img, "etc/os-release"); got != "ID=test\n" {
				t.Errorf("etc/os-release = %q", got)
			}
			// The layer blob is kept gzipped for push.
			var m ocispec.Manifest
			mb, err := e.cs.ReadAll(img.Manifest, 1<<20)
			if err != nil || json.Unmarshal(mb, &m) != nil || len(m.Layers) != 1 || m.Layers[0].MediaType != mediaTypeDockerLayerGzip {
				t.Fatalf("manifest %s: %s, %v", img.Manifest, mb, err)
			}
			blob, err := e.cs.ReadAll(m.Layers[0].Digest, 1<<20)
			if err != nil || blob[0] != 0x1f || blob[1] != 0x8b {
				t.Errorf("layer blob is not gzip: %v", err)
			}
			if tc.name == "gzip" && !bytes.Equal(blob, tc.in) {
				t.Errorf("a gzip input was not kept as given")
			}
			if e.blobs()[digest.FromBytes(rootfs)] {
				t.Errorf("the uncompressed copy of the layer was not collected")
			}
			// The layer record names a gzip blob that is kept (the first
			// import's: the second finds the layer unpacked).
			l, err := e.ls.Get(img.Layers[0])
			if err != nil || l.BlobMediaType != mediaTypeDockerLayerGzip || !e.blobs()[l.Blob] || (tc.name == "plain" && l.Blob != m.Layers[0].Digest) {
				t.Errorf("layer record %+v (%v), want it to name a kept gzip blob", l, err)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(e.s.tmpDir, "*")); len(left) != 0 {
		t.Errorf("import left temp files: %v", left)
	}
	// A temp file a crashed daemon left goes when the service starts.
	stale := filepath.Join(e.s.tmpDir, tempPrefix+"import-stale")
	os.WriteFile(stale, []byte("x"), 0o600)
	New(e.db, e.cs, e.ls)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file survived New: %v", err)
	}
	img, err := e.s.Import(context.Background(), bytes.NewReader(rootfs), "", dockerspec.DockerOCIImageConfig{}, "my message", ocispec.Platform{Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if img.Comment != "my message" || img.Config.History[0].Comment != "my message" || img.Config.Architecture != "arm64" || len(img.RepoTags) != 0 {
		t.Errorf("import with message: %q %+v %s %v", img.Comment, img.Config.History, img.Config.Architecture, img.RepoTags)
	}
}

func TestImportRefuses(t *testing.T) {
	e := newEnv(t)
	rootfs := e.simpleLayer("r")
	escape := layerTar(t, tfile{name: "../../escape", body: "x"})
	tests := []struct {
		name string
		in   []byte
		ref  string
		want string
	}{
		{"bad ref", rootfs, "Bad:Ref", "invalid reference format"},
		{"digest ref", rootfs, "x@sha256:" + strings.Repeat("0", 64), "digest reference"},
		{"empty", nil, "", "empty"},
		{"not a tar", []byte(strings.Repeat("not a tar ", 100)), "", "import"},
		{"escape", escape, "", "import"},
		{"truncated gzip", gzipBytes(t, rootfs)[:30], "", "import"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.s.Import(context.Background(), bytes.NewReader(tt.in), tt.ref, dockerspec.DockerOCIImageConfig{}, "", ocispec.Platform{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import = %v, want an error with %q", err, tt.want)
			}
			imgs, _ := e.s.List(ListFilter{})
			if len(imgs) != 0 || len(e.blobs()) != 0 || len(e.layerIDs()) != 0 {
				t.Errorf("a failed import left %d images, %d blobs, %d layers", len(imgs), len(e.blobs()), len(e.layerIDs()))
			}
		})
	}
}

// TestGCKeepsManifestLayerBlobs: a layer first loaded from an uncompressed
// docker archive and later registered by an image whose manifest names a
// gzip blob: the gzip blob is that image's to push and must survive GC.
func TestGCKeepsManifestLayerBlobs(t *testing.T) {
	e := newEnv(t)
	layer := e.simpleLayer("shared")
	a := e.makeImage(imageSpec{tags: []string{"a"}, layers: [][]byte{layer}})
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{"a"}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	removeAll(t, e)
	if _, err := e.s.Load(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	l, err := e.ls.Get(a.Layers[0])
	if err != nil || l.Blob != digest.FromBytes(layer) {
		t.Fatalf("loaded layer's blob = %v, %v; want the uncompressed tar", l, err)
	}
	b := e.makeImage(imageSpec{tags: []string{"b"}, layers: [][]byte{layer}, labels: map[string]string{"b": "1"}})
	var m ocispec.Manifest
	mb, _ := e.cs.ReadAll(b.Manifest, 1<<20)
	json.Unmarshal(mb, &m)
	gz := m.Layers[0].Digest
	if _, err := e.s.Remove("a", false, false); err != nil {
		t.Fatal(err)
	}
	if !e.blobs()[gz] {
		t.Fatalf("GC removed the gzip blob b's manifest names")
	}
	buf.Reset()
	if err := e.s.Save(context.Background(), &buf, []string{"b"}, SaveOCI); err != nil {
		t.Fatal(err)
	}
	if _, ok := tarFiles(t, buf.Bytes())[blobPath(gz)]; !ok {
		t.Errorf("the OCI save of b lacks its layer blob %s", gz)
	}
	buf.Reset()
	if err := e.s.Save(context.Background(), &buf, []string{"b"}, SaveDocker); err != nil {
		t.Fatalf("docker save of b: %v", err)
	}
}

// TestConcurrentLoadAndRemove loads one archive from several goroutines
// while another removes the image and collects: every load succeeds and
// the image it leaves is whole.
func TestConcurrentLoadAndRemove(t *testing.T) {
	e := newEnv(t)
	a, _ := twoImages(e)
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{"app:1"}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	removeAll(t, e)
	archive := buf.Bytes()
	errs := make(chan error, 16)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.s.Remove(a.ID.String(), true, false); err != nil && !errdefs.IsNotFound(err) {
				errs <- err
				return
			}
			if _, err := e.s.GC(context.Background()); err != nil {
				errs <- err
				return
			}
		}
	}()
	var loads []chan error
	for i := 0; i < 4; i++ {
		ch := make(chan error, 1)
		loads = append(loads, ch)
		go func() {
			for j := 0; j < 3; j++ {
				if _, err := e.s.Load(context.Background(), bytes.NewReader(archive), nil); err != nil {
					ch <- err
					return
				}
			}
			ch <- nil
		}()
	}
	for _, ch := range loads {
		if err := <-ch; err != nil {
			t.Errorf("load: %v", err)
		}
	}
	close(stop)
	<-done
	select {
	case err := <-errs:
		t.Errorf("remove/gc: %v", err)
	default:
	}
	if _, err := e.s.Load(context.Background(), bytes.NewReader(archive), nil); err != nil {
		t.Fatal(err)
	}
	img, err := e.s.Resolve("app:1")
	if err != nil || img.ID != a.ID {
		t.Fatalf("app:1 = %v, %v", img, err)
	}
	if got := e.readFile(img, "etc/motd"); got != "hello\n" {
		t.Errorf("etc/motd = %q", got)
	}
	if err := e.s.Save(context.Background(), io.Discard, []string{"app:1"}, SaveDocker); err != nil {
		t.Errorf("save after the storm: %v", err)
	}
}

// TestLoadOCIZstd loads an OCI layout whose layer is zstd-compressed and
// saves it back as a docker archive (uncompressed layer.tar).
func TestLoadOCIZstd(t *testing.T) {
	e := newEnv(t)
	layer := layerTar(t, tfile{name: "z", body: "zstd layer\n"})
	enc, _ := zstd.NewWriter(nil)
	blob := enc.EncodeAll(layer, nil)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromBytes(layer).String() + `"]}}`)
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		digest.FromBytes(cfg).String() + `","size":` + strconv.Itoa(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"` +
		digest.FromBytes(blob).String() + `","size":` + strconv.Itoa(len(blob)) + `}]}`)
	idx := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromBytes(m).String() +
		`","size":` + strconv.Itoa(len(m)) + `,"annotations":{"org.opencontainers.image.ref.name":"zs:1"}}]}`
	in := writeTar(t, [][2]string{
		{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`}, {"index.json", idx},
		{blobPath(digest.FromBytes(blob)), string(blob)}, {blobPath(digest.FromBytes(cfg)), string(cfg)}, {blobPath(digest.FromBytes(m)), string(m)},
	})
	loaded, err := e.s.Load(context.Background(), bytes.NewReader(in), nil)
	if err != nil || !reflect.DeepEqual(loaded, []string{"zs:1"}) {
		t.Fatalf("load = %q, %v", loaded, err)
	}
	img, _ := e.s.Resolve("zs:1")
	if got := e.readFile(img, "z"); got != "zstd layer\n" || img.Manifest != digest.FromBytes(m) {
		t.Errorf("z = %q, manifest %s", got, img.Manifest)
	}
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{"zs:1"}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, buf.Bytes())
	var manifest []dockerManifestEntry
	json.Unmarshal([]byte(files["manifest.json"]), &manifest)
	if len(manifest) != 1 || files[manifest[0].Layers[0]] != string(layer) {
		t.Errorf("docker save of a zstd image does not hold the uncompressed layer")
	}

	// The same image behind a multi-platform index: the host's is taken,
	// another platform's (absent here, as in a partial copy) is not read.
	removeAll(t, e)
	nested := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromString("other").String() + `","size":5,"platform":{"os":"linux","architecture":"s390x"}},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromBytes(m).String() + `","size":` + strconv.Itoa(len(m)) + `,"platform":{"os":"linux","architecture":"` + runtime.GOARCH + `"}}]}`
	idx = `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + digest.FromString(nested).String() +
		`","size":` + strconv.Itoa(len(nested)) + `,"annotations":{"org.opencontainers.image.ref.name":"zs:multi"}}]}`
	in = writeTar(t, [][2]string{
		{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`}, {"index.json", idx}, {blobPath(digest.FromString(nested)), nested},
		{blobPath(digest.FromBytes(blob)), string(blob)}, {blobPath(digest.FromBytes(cfg)), string(cfg)}, {blobPath(digest.FromBytes(m)), string(m)},
	})
	loaded, err = e.s.Load(context.Background(), bytes.NewReader(in), nil)
	if err != nil || !reflect.DeepEqual(loaded, []string{"zs:multi"}) {
		t.Fatalf("load of a multi-platform layout = %q, %v", loaded, err)
	}
}

// TestLoadNativeDriver: with the copying driver a layer waits for its
// parent, so the parallel unpack must take its slots in layer order.
func TestLoadNativeDriver(t *testing.T) {
	e := newEnvDriver(t, "native")
	var ls [][]byte
	for i := 0; i < 2*loadParallel+1; i++ {
		ls = append(ls, e.simpleLayer(fmt.Sprintf("l%02d", i)))
	}
	img := e.makeImage(imageSpec{tags: []string{"deep:1"}, layers: ls})
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{"deep:1"}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	removeAll(t, e)
	if _, err := e.s.Load(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Resolve("deep:1")
	if err != nil || got.ID != img.ID {
		t.Fatalf("deep:1 = %v, %v", got, err)
	}
	if s := e.readFile(got, "etc/l00"); s != "l00\n" {
		t.Errorf("etc/l00 = %q", s)
	}
}

// TestLoadKeepsPulledManifest: loading a docker archive of an image held
// already does not replace the manifest it was pulled with by the one
// made up for the archive.
func TestLoadKeepsPulledManifest(t *testing.T) {
	e := newEnv(t)
	img := e.makeImage(imageSpec{tags: []string{"p:1"}, layers: [][]byte{e.simpleLayer("p")}})
	var buf bytes.Buffer
	if err := e.s.Save(context.Background(), &buf, []string{"p:1"}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Load(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := e.s.Resolve("p:1")
	if got.Manifest != img.Manifest || got.ManifestMediaType != img.ManifestMediaType {
		t.Errorf("manifest %s (%s) after load, want %s (%s)", got.Manifest, got.ManifestMediaType, img.Manifest, img.ManifestMediaType)
	}
}
