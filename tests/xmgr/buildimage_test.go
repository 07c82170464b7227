package xmgr

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// This file holds what the build fidelity suite and the build benchmark
// share: the base image both daemons load, and a reader of `save` archives
// that flattens an image's layers into one file tree.

// fidelityApplets are the busybox applets the base image links in /bin.
var fidelityApplets = []string{"sh", "ls", "cat", "echo", "rm", "mkdir", "touch", "true", "false", "env",
	"id", "pwd", "stat", "sha256sum", "wget", "sleep", "printf", "chmod", "chown", "test", "sort", "grep",
	"ln", "mv", "cp", "find", "tar", "httpd", "hostname", "whoami", "head"}

// fidelityBaseTar writes a docker-save archive of "busybox:latest": one
// layer with busybox-static and its applets, users root and fid (1000) and
// groups fid (1000) and staff (50) for USER and --chown by name, and files
// under /etc/fid that the whiteout cases delete or replace. Its config is
// fixed, so it has the same ID in every daemon that loads it.
func fidelityBaseTar(t *testing.T) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox-static is not installed")
	}
	mtime := time.Unix(1700000000, 0)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) {
		_ = tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: uid, ModTime: mtime})
	}
	file := func(name, content string, mode int64) {
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(content)), ModTime: mtime})
		_, _ = tw.Write([]byte(content))
	}
	for _, d := range []string{"bin", "dev", "etc", "etc/fid", "etc/fid/dir", "etc/fid/olddir", "etc/fid/olddir/b", "home", "proc", "sys", "usr", "usr/bin", "var"} {
		dir(d, 0o755, 0)
	}
	dir("root", 0o700, 0)
	dir("tmp", 0o1777, 0)
	dir("home/fid", 0o755, 1000)
	file("bin/busybox", string(bb), 0o755)
	for _, a := range fidelityApplets {
		_ = tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", ModTime: mtime})
	}
	file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nfid:x:1000:1000:fid:/home/fid:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644)
	file("etc/group", "root:x:0:\nstaff:x:50:fid\nfid:x:1000:\nnogroup:x:65534:\n", 0o644)
	file("etc/fid/remove-me", "remove me\n", 0o644)
	file("etc/fid/dir/file", "file\n", 0o644)
	file("etc/fid/dir/keep", "keep\n", 0o600)
	file("etc/fid/olddir/a", "old a\n", 0o644)
	file("etc/fid/olddir/b/c", "old c\n", 0o644)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: mtime.UTC()}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"sh"}
	cf.History = []v1.History{
		{Created: cf.Created, CreatedBy: "/bin/sh -c #(nop) ADD file:fidelitybase in / "},
		{Created: cf.Created, CreatedBy: "/bin/sh -c #(nop)  CMD [\"sh\"]", EmptyLayer: true},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	p := t.TempDir() + "/fidelity-busybox.tar"
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// fsEntry is one path of a file tree, without its times.
type fsEntry struct {
	Type     byte // 'd' dir, 'f' file, 'l' symlink, 'h' hard link, 'c', 'b', 'p'
	Mode     int64
	UID, GID int
	Size     int64
	SHA      string
	Link     string
	Dev      string // major,minor of a device node
}

func (e fsEntry) String() string {
	s := fmt.Sprintf("%c %04o %d:%d", e.Type, e.Mode, e.UID, e.GID)
	switch e.Type {
	case 'f':
		s += fmt.Sprintf(" %dB sha256:%.12s", e.Size, e.SHA)
	case 'l', 'h':
		s += " -> " + e.Link
	case 'c', 'b':
		s += " dev " + e.Dev
	}
	return s
}

// savedImage is one image read back from a `save` archive.
type savedImage struct {
	Config  map[string]json.RawMessage // the config file
	Run     map[string]json.RawMessage // its "config" (the run config)
	History []struct {
		CreatedBy  string `json:"created_by"`
		EmptyLayer bool   `json:"empty_layer"`
	}
	Layers [][]string // per layer, its tar entries ("path type"), sorted
	Tree   map[string]fsEntry
	Files  map[string][]byte // content of the regular files of Tree
}

// readSaved reads the first image of a docker-save archive.
func readSaved(p string) (*savedImage, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	members := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			members[path.Clean(h.Name)] = b
		}
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(members["manifest.json"], &manifest); err != nil || len(manifest) == 0 {
		return nil, fmt.Errorf("%s: no usable manifest.json (%v)", p, err)
	}
	img := &savedImage{Tree: map[string]fsEntry{}, Files: map[string][]byte{}}
	cfg := members[path.Clean(manifest[0].Config)]
	if err := json.Unmarshal(cfg, &img.Config); err != nil {
		return nil, fmt.Errorf("%s: config %s: %w", p, manifest[0].Config, err)
	}
	_ = json.Unmarshal(img.Config["config"], &img.Run)
	_ = json.Unmarshal(img.Config["history"], &img.History)
	for _, l := range manifest[0].Layers {
		b, ok := members[path.Clean(l)]
		if !ok {
			return nil, fmt.Errorf("%s: layer %s is missing", p, l)
		}
		if err := img.apply(b); err != nil {
			return nil, fmt.Errorf("%s: layer %s: %w", p, l, err)
		}
	}
	return img, nil
}

func cleanTarPath(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

// apply adds one layer to the tree: first its whiteouts and opaque
// directories against the layers below, then its entries.
func (img *savedImage) apply(layer []byte) error {
	if len(layer) > 2 && layer[0] == 0x1f && layer[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(layer))
		if err != nil {
			return err
		}
		if layer, err = io.ReadAll(zr); err != nil {
			return err
		}
	}
	type item struct {
		h    *tar.Header
		data []byte
	}
	var items []item
	var listing []string
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		p := cleanTarPath(h.Name)
		if p == "" || p == "." {
			continue
		}
		listing = append(listing, fmt.Sprintf("%s %c", p, typeOf(h)))
		items = append(items, item{h, data})
	}
	sort.Strings(listing)
	img.Layers = append(img.Layers, listing)
	removeUnder := func(p string, self bool) {
		for k := range img.Tree {
			if (self && k == p) || strings.HasPrefix(k, p+"/") || (p == "" && k != "") {
				delete(img.Tree, k)
				delete(img.Files, k)
			}
		}
	}
	for _, it := range items {
		p := cleanTarPath(it.h.Name)
		dir, base := path.Dir(p), path.Base(p)
		if dir == "." {
			dir = ""
		}
		switch {
		case base == ".wh..wh..opq":
			removeUnder(dir, false)
		case strings.HasPrefix(base, ".wh."):
			removeUnder(path.Join(dir, strings.TrimPrefix(base, ".wh.")), true)
		}
	}
	for _, it := range items {
		p := cleanTarPath(it.h.Name)
		if strings.HasPrefix(path.Base(p), ".wh.") {
			continue
		}
		e := fsEntry{Type: typeOf(it.h), Mode: it.h.Mode & 0o7777, UID: it.h.Uid, GID: it.h.Gid}
		switch e.Type {
		case 'f':
			sum := sha256.Sum256(it.data)
			e.Size, e.SHA = int64(len(it.data)), hex.EncodeToString(sum[:])
			img.Files[p] = it.data
		case 'l':
			e.Link, e.Mode = it.h.Linkname, 0o777
		case 'h':
			e.Link = cleanTarPath(it.h.Linkname)
		case 'c', 'b':
			e.Dev = fmt.Sprintf("%d,%d", it.h.Devmajor, it.h.Devminor)
		}
		if old, ok := img.Tree[p]; ok && old.Type == 'd' && e.Type != 'd' {
			removeUnder(p, false)
		}
		img.Tree[p] = e
	}
	return nil
}

func typeOf(h *tar.Header) byte {
	switch h.Typeflag {
	case tar.TypeDir:
		return 'd'
	case tar.TypeSymlink:
		return 'l'
	case tar.TypeLink:
		return 'h'
	case tar.TypeChar:
		return 'c'
	case tar.TypeBlock:
		return 'b'
	case tar.TypeFifo:
		return 'p'
	}
	return 'f'
}

// configFields are the run-config fields the suite compares.
var configFields = []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
	"Labels", "StopSignal", "Healthcheck", "OnBuild", "Shell"}

// field is a field of the run config ("author" and other top-level keys of
// the config file when it starts with a lower-case letter), as compact
// JSON; null, absent and "" are all "".
func (img *savedImage) field(name string) string {
	src := img.Run
	if name != "" && name[0] >= 'a' && name[0] <= 'z' {
		src = img.Config
	}
	raw, ok := src[name]
	if !ok {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil || v == nil || v == "" {
		return ""
	}
	// maps come out with sorted keys; <, > and & as they are
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// historyHex is a content hash in created_by: after file:, dir: or multi:
// (glued to the options before it, as in "--chown=a:bfile:<hex>"), and
// alone for an ADD of a URL.
var historyHex = regexp.MustCompile(`[0-9a-f]{64}`)

// history is the image's history as comparable lines.
func (img *savedImage) history() []string {
	var out []string
	for _, h := range img.History {
		line := historyHex.ReplaceAllString(h.CreatedBy, "<hex>")
		if h.EmptyLayer {
			line += "   [empty_layer]"
		}
		out = append(out, line)
	}
	return out
}

// compareImages lists every difference between Docker's image and xmgr's.
func compareImages(d, x *savedImage) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	// (a) the flattened tree
	paths := map[string]bool{}
	for p := range d.Tree {
		paths[p] = true
	}
	for p := range x.Tree {
		paths[p] = true
	}
	var sorted []string
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	n := 0
	for _, p := range sorted {
		de, dok := d.Tree[p]
		xe, xok := x.Tree[p]
		if dok && xok && de == xe {
			continue
		}
		if n++; n > 40 {
			continue
		}
		switch {
		case !xok:
			add("tree: /%s only in docker's (%s)", p, de)
		case !dok:
			add("tree: /%s only in xmgr's (%s)", p, xe)
		default:
			add("tree: /%s docker %s, xmgr %s%s", p, de, xe, contentDiff(d.Files[p], x.Files[p]))
		}
	}
	if n > 40 {
		add("tree: ... %d more paths differ", n-40)
	}
	// (b) the layers
	if len(d.Layers) != len(x.Layers) {
		add("layers: docker has %d, xmgr %d", len(d.Layers), len(x.Layers))
	}
	for i := 0; i < len(d.Layers) || i < len(x.Layers); i++ {
		var dl, xl []string
		if i < len(d.Layers) {
			dl = d.Layers[i]
		}
		if i < len(x.Layers) {
			xl = x.Layers[i]
		}
		if only := minus(dl, xl); len(only) > 0 {
			add("layer %d: only in docker's: %s", i, abbrev(only, 12))
		}
		if only := minus(xl, dl); len(only) > 0 {
			add("layer %d: only in xmgr's: %s", i, abbrev(only, 12))
		}
	}
	// (c) the config
	for _, f := range append(configFields, "author", "os", "architecture") {
		if a, b := d.field(f), x.field(f); a != b {
			add("config %s: docker %s, xmgr %s", f, orNone(a), orNone(b))
		}
	}
	// what refers to other images: the run config's Image (dockerd: the
	// image the step ran on) and a top-level "parent" (dockerd keeps the
	// parent out of the config, in its own metadata); both change the ID
	for _, f := range []string{"Image", "parent"} {
		src := func(img *savedImage) map[string]json.RawMessage {
			if f == "parent" {
				return img.Config
			}
			return img.Run
		}
		if a, b := refKind(src(d)[f]), refKind(src(x)[f]); a != b {
			add("config %s: docker %s, xmgr %s", f, a, b)
		}
	}
	// (d) the history
	dh, xh := d.history(), x.history()
	if len(dh) != len(xh) {
		add("history: docker has %d entries, xmgr %d", len(dh), len(xh))
	}
	for i := 0; i < len(dh) || i < len(xh); i++ {
		var a, b string
		if i < len(dh) {
			a = dh[i]
		}
		if i < len(xh) {
			b = xh[i]
		}
		if a != b {
			add("history %d:\n      docker %q\n      xmgr   %q", i, a, b)
		}
	}
	return diffs
}

func contentDiff(a, b []byte) string {
	if a == nil || b == nil || bytes.Equal(a, b) || len(a) > 200 || len(b) > 200 {
		return ""
	}
	return fmt.Sprintf(" (content docker %q, xmgr %q)", a, b)
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

func abbrev(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], ", ") + fmt.Sprintf(" ... (%d more)", len(s)-n)
	}
	return strings.Join(s, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// expectation checks one image against what a case says it must hold:
// files maps a path to its content, or to "!absent", "!dir", "!present",
// "!link:TARGET", "!hardlink:TARGET" (a path in the image, no leading /); meta maps a path to "MODE UID:GID" (mode in octal);
// config maps a field (as field) to its compact JSON.
func (img *savedImage) check(files, meta, config map[string]string) []string {
	var errs []string
	for p, want := range files {
		k := cleanTarPath(p)
		e, ok := img.Tree[k]
		switch {
		case want == "!absent":
			if ok {
				errs = append(errs, fmt.Sprintf("%s exists (%s), want it absent", p, e))
			}
		case !ok:
			errs = append(errs, fmt.Sprintf("%s is missing", p))
		case want == "!present":
		case want == "!dir":
			if e.Type != 'd' {
				errs = append(errs, fmt.Sprintf("%s is %s, want a directory", p, e))
			}
		case strings.HasPrefix(want, "!hardlink:"):
			if e.Type != 'h' || e.Link != strings.TrimPrefix(want, "!hardlink:") {
				errs = append(errs, fmt.Sprintf("%s is %s, want a hard link to %s", p, e, strings.TrimPrefix(want, "!hardlink:")))
			}
		case strings.HasPrefix(want, "!link:"):
			if e.Type != 'l' || e.Link != strings.TrimPrefix(want, "!link:") {
				errs = append(errs, fmt.Sprintf("%s is %s, want a symlink to %s", p, e, strings.TrimPrefix(want, "!link:")))
			}
		case e.Type != 'f':
			errs = append(errs, fmt.Sprintf("%s is %s, want a file", p, e))
		case string(img.Files[k]) != want:
			errs = append(errs, fmt.Sprintf("%s holds %q, want %q", p, img.Files[k], want))
		}
	}
	for p, want := range meta {
		e, ok := img.Tree[cleanTarPath(p)]
		if got := fmt.Sprintf("%04o %d:%d", e.Mode, e.UID, e.GID); !ok || got != want {
			errs = append(errs, fmt.Sprintf("%s: mode and owner %q, want %q", p, got, want))
		}
	}
	for f, want := range config {
		if got := img.field(f); got != want {
			errs = append(errs, fmt.Sprintf("config %s: %s, want %s", f, orNone(got), orNone(want)))
		}
	}
	sort.Strings(errs)
	return errs
}

// dump shows an image's layers (past the base's) and history, to read
// what Docker does for a case.
func (img *savedImage) dump() string {
	var b strings.Builder
	for i, l := range img.Layers {
		if i == 0 {
			fmt.Fprintf(&b, "layer 0: %d entries (the base)\n", len(l))
			continue
		}
		fmt.Fprintf(&b, "layer %d: %s\n", i, strings.Join(l, ", "))
	}
	for _, h := range img.history() {
		fmt.Fprintf(&b, "history: %s\n", h)
	}
	for _, f := range configFields {
		if v := img.field(f); v != "" {
			fmt.Fprintf(&b, "config %s: %s\n", f, v)
		}
	}
	return b.String()
}

// refKind describes an image reference in a config: none, an image ID, or
// something else.
func refKind(raw json.RawMessage) string {
	var v string
	if json.Unmarshal(raw, &v) != nil || v == "" {
		return "(none)"
	}
	if regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(v) {
		return "an image ID"
	}
	return fmt.Sprintf("%q", v)
}

// configShape says how the configs' keys differ (dockerd writes every
// field of its structs, empty ones too, and container_config,
// docker_version): for information, not a failure.
func configShape(d, x *savedImage) string {
	var out []string
	if a, b := keysOf(d.Config), keysOf(x.Config); a != b {
		out = append(out, fmt.Sprintf("config keys: docker %s; xmgr %s", a, b))
	}
	if a, b := keysOf(d.Run), keysOf(x.Run); a != b {
		out = append(out, fmt.Sprintf("run config keys: docker %s; xmgr %s", a, b))
	}
	return strings.Join(out, "\n")
}

// keysOf lists a JSON object's keys, sorted.
func keysOf(m map[string]json.RawMessage) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}
