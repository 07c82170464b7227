package images

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// These tests exchange images with skopeo and umoci (Debian packages), the
// tools whose "oci:" directories and docker-archive files the issue names.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestInteropUmoci(t *testing.T) {
	umoci := needTool(t, "umoci")
	e := newEnv(t)
	a, _ := twoImages(e)
	layout := filepath.Join(t.TempDir(), "layout")
	if err := e.s.SaveOCIDir(context.Background(), layout, []string{"app:1", "localhost:5000/other:2"}); err != nil {
		t.Fatal(err)
	}
	tags := strings.Fields(run(t, umoci, "ls", "--layout", layout))
	sort.Strings(tags)
	if !reflect.DeepEqual(tags, []string{"1", "2"}) {
		t.Errorf("umoci ls = %q, want [1 2]", tags)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, umoci, "unpack", "--image", layout+":1", bundle)
	rootfs := filepath.Join(bundle, "rootfs")
	if b, err := os.ReadFile(filepath.Join(rootfs, "etc/motd")); err != nil || string(b) != "hello\n" {
		t.Errorf("umoci unpack: etc/motd = %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/gone")); !os.IsNotExist(err) {
		t.Errorf("umoci unpack: the whiteout did not remove etc/gone: %v", err)
	}
	// umoci makes a new image on top; it loads back, named by a full
	// ref.name.
	os.WriteFile(filepath.Join(rootfs, "etc/added"), []byte("by umoci\n"), 0o644)
	run(t, umoci, "repack", "--image", layout+":umoci.example/new:1", bundle)
	loaded, err := e.s.LoadOCIDir(context.Background(), layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(loaded)
	if !contains(loaded, "umoci.example/new:1") {
		t.Fatalf("LoadOCIDir = %q, want umoci.example/new:1 among them", loaded)
	}
	img, err := e.s.Resolve("umoci.example/new:1")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 3 || img.Layers[1] != a.Layers[1] {
		t.Errorf("umoci's image has layers %v, want a's two and one more", img.Layers)
	}
	if got := e.readFile(img, "etc/added"); got != "by umoci\n" {
		t.Errorf("etc/added = %q", got)
	}
	// Saving into the layout again keeps the entries of other images.
	if err := e.s.SaveOCIDir(context.Background(), layout, []string{"app:1"}); err != nil {
		t.Fatal(err)
	}
	tags = strings.Fields(run(t, umoci, "ls", "--layout", layout))
	sort.Strings(tags)
	if !reflect.DeepEqual(tags, []string{"1", "2", "umoci.example/new:1"}) {
		t.Errorf("umoci ls after a second save = %q", tags)
	}
}

func TestInteropSkopeo(t *testing.T) {
	skopeo := needTool(t, "skopeo")
	e := newEnv(t)
	a, b := twoImages(e)
	dir := t.TempDir()

	// Our OCI layout -> skopeo -> docker-archive -> our Load.
	layout := filepath.Join(dir, "layout")
	if err := e.s.SaveOCIDir(context.Background(), layout, []string{"app:1"}); err != nil {
		t.Fatal(err)
	}
	fromOCI := filepath.Join(dir, "from-oci.tar")
	run(t, skopeo, "--insecure-policy", "copy", "oci:"+layout+":1", "docker-archive:"+fromOCI+":copied/app:9")

	// Our docker archive -> skopeo -> OCI layout -> our LoadOCIDir.
	archivePath := filepath.Join(dir, "saved.tar")
	f, err := os.Create(archivePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.Save(context.Background(), f, []string{"localhost:5000/other:2"}, SaveDocker); err != nil {
		t.Fatal(err)
	}
	f.Close()
	toOCI := filepath.Join(dir, "to-oci")
	run(t, skopeo, "--insecure-policy", "copy", "docker-archive:"+archivePath, "oci:"+toOCI+":localhost:5000/roundtrip:3")
	out := run(t, skopeo, "--insecure-policy", "inspect", "--config", "docker-archive:"+archivePath)
	if !strings.Contains(out, `"diff_ids"`) {
		t.Errorf("skopeo inspect of our archive: %s", out)
	}

	removeAll(t, e)
	fa, err := os.Open(fromOCI)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	loaded, err := e.s.Load(context.Background(), fa, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, []string{"copied/app:9"}) {
		t.Errorf("loaded %q from skopeo's docker-archive", loaded)
	}
	img, err := e.s.Resolve("copied/app:9")
	if err != nil || img.ID != a.ID {
		t.Fatalf("copied/app:9 = %v, %v; want ID %s", img, err, a.ID)
	}
	if got := e.readFile(img, "etc/motd"); got != "hello\n" {
		t.Errorf("etc/motd = %q", got)
	}
	loaded, err = e.s.LoadOCIDir(context.Background(), toOCI, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, []string{"localhost:5000/roundtrip:3"}) {
		t.Errorf("loaded %q from skopeo's oci dir", loaded)
	}
	if img, err := e.s.Resolve("localhost:5000/roundtrip:3"); err != nil || img.ID != b.ID {
		t.Errorf("roundtrip:3 = %v, %v; want ID %s", img, err, b.ID)
	}
}
