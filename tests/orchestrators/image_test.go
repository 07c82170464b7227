package orchestrators

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// readTar returns the regular files of a tar by name, and every entry's header.
func readTar(t *testing.T, b []byte) (map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	files, headers := map[string][]byte{}, map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fakeBusybox is a script standing in for busybox: it answers --list, and
// its content is what must land at /bin/busybox.
func fakeBusybox(t *testing.T) (string, []byte) {
	t.Helper()
	content := []byte("#!/bin/sh\nprintf 'busybox\\nsh\\ntrue\\nsleep\\n'\n")
	path := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, content
}

func TestBusyboxArchive(t *testing.T) {
	busybox, content := fakeBusybox(t)
	var buf bytes.Buffer
	images := []Image{{"xrt-test/busybox:latest", []string{"sh"}}, {"xrt-test/pause:latest", []string{"sleep", "1000"}}}
	if err := BusyboxArchive(&buf, busybox, images...); err != nil {
		t.Fatal(err)
	}
	files, _ := readTar(t, buf.Bytes())

	var manifest []archiveManifest
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != len(images) {
		t.Fatalf("manifest.json: %d images, want %d: %+v", len(manifest), len(images), manifest)
	}
	var layer []byte
	for i, m := range manifest {
		if len(m.Layers) != 1 || len(m.RepoTags) != 1 || m.RepoTags[0] != images[i].Ref {
			t.Fatalf("manifest.json[%d]: %+v", i, m)
		}
		config, ok := files[m.Config]
		if !ok {
			t.Fatalf("config %s not in the archive", m.Config)
		}
		if want := sha(config) + ".json"; m.Config != want {
			t.Errorf("config named %s, its digest gives %s", m.Config, want)
		}
		if layer, ok = files[m.Layers[0]]; !ok {
			t.Fatalf("layer %s not in the archive", m.Layers[0])
		}
		var img ocispec.Image
		if err := json.Unmarshal(config, &img); err != nil {
			t.Fatalf("config: %v", err)
		}
		if len(img.RootFS.DiffIDs) != 1 || img.RootFS.DiffIDs[0].Encoded() != sha(layer) {
			t.Errorf("diff_ids %v, layer digest %s", img.RootFS.DiffIDs, sha(layer))
		}
		if img.OS != "linux" || !slices.Equal(img.Config.Cmd, images[i].Cmd) {
			t.Errorf("config of %s: os %q cmd %q", images[i].Ref, img.OS, img.Config.Cmd)
		}
	}
	if manifest[0].Layers[0] != manifest[1].Layers[0] {
		t.Errorf("the images do not share their layer: %v", manifest)
	}

	lfiles, lheaders := readTar(t, layer)
	if !bytes.Equal(lfiles["bin/busybox"], content) {
		t.Errorf("bin/busybox is not the busybox given")
	}
	if h := lheaders["bin/busybox"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox not executable: %+v", h)
	}
	for _, a := range []string{"sh", "true", "sleep"} {
		h := lheaders["bin/"+a]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: want a symlink to busybox, got %+v", a, h)
		}
	}
	if h := lheaders["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/: want mode 1777, got %+v", h)
	}
	if _, ok := lfiles["etc/passwd"]; !ok {
		t.Error("no etc/passwd")
	}

	var again bytes.Buffer
	if err := BusyboxArchive(&again, busybox, images...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two archives of the same busybox differ: the image digest would change")
	}
}

func TestBusyboxArchiveErrors(t *testing.T) {
	dir := t.TempDir()
	notRunnable := filepath.Join(dir, "plain")
	if err := os.WriteFile(notRunnable, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := BusyboxArchive(io.Discard, "/bin/sh"); err == nil {
		t.Error("no error for an archive of no image")
	}
	for name, path := range map[string]string{"missing": filepath.Join(dir, "nope"), "not executable": notRunnable} {
		t.Run(name, func(t *testing.T) {
			if err := BusyboxArchive(io.Discard, path, Image{"x:y", []string{"sh"}}); err == nil {
				t.Fatalf("no error for busybox %s", path)
			}
		})
	}
}
