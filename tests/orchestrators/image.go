package orchestrators

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// epoch is the modification time of every entry, so that the same busybox
// gives the same image digest.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Image is one image of an archive: its tag and its command.
type Image struct {
	Ref string   // such as docker.io/xrt-test/busybox:latest
	Cmd []string // the config's Cmd
}

// BusyboxArchive writes a docker-archive (the format of `docker save`,
// which `docker load` and `ctr images import` both read) holding images
// that share a single layer: the static busybox binary at /bin/busybox, a
// symlink for each of its applets, and a minimal /etc/passwd and
// /etc/group. Each image differs only in its config's Cmd.
func BusyboxArchive(w io.Writer, busybox string, images ...Image) error {
	if len(images) == 0 {
		return fmt.Errorf("busybox archive: no image to write")
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("busybox: %w", err)
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", busybox, err)
	}
	layer, err := busyboxLayer(bin, strings.Fields(string(out)))
	if err != nil {
		return err
	}
	layerSum := sha256.Sum256(layer)
	layerHex := hex.EncodeToString(layerSum[:])
	layerName := layerHex + "/layer.tar"

	type file struct {
		name string
		data []byte
	}
	files := []file{{layerName, layer}}
	var manifest []archiveManifest
	for _, img := range images {
		created := epoch
		config, err := json.Marshal(ocispec.Image{
			Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
			Created:  &created,
			Config: ocispec.ImageConfig{
				Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				Cmd: img.Cmd,
			},
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.NewDigestFromEncoded(digest.SHA256, layerHex)}},
		})
		if err != nil {
			return err
		}
		configSum := sha256.Sum256(config)
		configName := hex.EncodeToString(configSum[:]) + ".json"
		files = append(files, file{configName, config})
		manifest = append(manifest, archiveManifest{Config: configName, RepoTags: []string{img.Ref}, Layers: []string{layerName}})
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	files = append(files, file{"manifest.json", b})

	tw := tar.NewWriter(w)
	for _, f := range files {
		if err := writeFile(tw, f.name, f.data, 0o644); err != nil {
			return err
		}
	}
	return tw.Close()
}

// busyboxLayer is the layer tar: directories, busybox and its applets.
func busyboxLayer(bin []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555}, {"root/", 0o700}, {"sys/", 0o555}, {"tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, "bin/busybox", bin, 0o755); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, "etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644); err != nil {
		return nil, err
	}
	if err := writeFile(tw, "etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, data []byte, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("archive entry %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("archive entry %s: %w", name, err)
	}
	return nil
}

// archiveManifest is one entry of a docker-archive's manifest.json.
type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}
