package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBenchAgainstDocker times save, load and import here beside Docker
// 20.10 on the same data (a five-layer image of about 100 MB unpacked:
// random data, text, 10,000 small files). It prints the numbers and
// asserts nothing about time. Run with XMGR_BENCH=1 (it starts dockerd).
func TestBenchAgainstDocker(t *testing.T) {
	if os.Getenv("XMGR_BENCH") == "" {
		t.Skip("set XMGR_BENCH=1 to compare save/load/import with Docker")
	}
	e := newEnv(t)
	docker := startDockerd(t)
	rnd := rand.New(rand.NewSource(1))
	random := func(n int) string {
		b := make([]byte, n)
		rnd.Read(b)
		return string(b)
	}
	var text strings.Builder
	for text.Len() < 30<<20 {
		fmt.Fprintf(&text, "line %d: the quick brown fox jumps over the lazy dog %d\n", text.Len(), rnd.Int())
	}
	var small []tfile
	for i := 0; i < 100; i++ {
		small = append(small, tfile{name: fmt.Sprintf("many/%02d/", i), typ: tar.TypeDir})
		for j := 0; j < 100; j++ {
			small = append(small, tfile{name: fmt.Sprintf("many/%02d/f%03d", i, j), body: random(rnd.Intn(2048))})
		}
	}
	layers := [][]byte{
		layerTar(t, tfile{name: "random.bin", body: random(30 << 20)}),
		layerTar(t, tfile{name: "text.txt", body: text.String()}),
		layerTar(t, small...),
		layerTar(t, tfile{name: "random2.bin", body: random(20 << 20)}),
		layerTar(t, tfile{name: "etc/", typ: tar.TypeDir}, tfile{name: "etc/motd", body: "bench\n"}),
	}
	img := e.makeImage(imageSpec{tags: []string{"bench:1"}, layers: layers})
	dir := t.TempDir()
	timeIt := func(fn func()) time.Duration {
		start := time.Now()
		fn()
		return time.Since(start)
	}
	report := func(what string, ours, theirs time.Duration) {
		t.Logf("%-28s xmgr %7.0f ms   docker %7.0f ms   ratio %.2f", what, ours.Seconds()*1000, theirs.Seconds()*1000, ours.Seconds()/theirs.Seconds())
	}

	// Each operation runs several times, ours and docker's alternating;
	// the fastest run of each counts (the machine is shared and noisy).
	rounds := 3
	best := map[string]time.Duration{}
	note := func(what string, d time.Duration) {
		if b, ok := best[what]; !ok || d < b {
			best[what] = d
		}
	}
	ourTar := filepath.Join(dir, "ours.tar")
	dockerTar := filepath.Join(dir, "docker.tar")
	rootTar := filepath.Join(dir, "rootfs.tar")
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	for _, l := range layers {
		tr := tar.NewReader(bytes.NewReader(l))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			tw.WriteHeader(h)
			io.Copy(tw, tr)
		}
	}
	tw.Close()
	os.WriteFile(rootTar, rootfs.Bytes(), 0o644)
	for r := 0; r < rounds; r++ {
		note("save ours", timeIt(func() {
			f, _ := os.Create(ourTar)
			if err := e.s.Save(context.Background(), f, []string{"bench:1"}, SaveDocker); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}))
		note("load docker", timeIt(func() { docker("load", "-q", "-i", ourTar) }))
		note("save docker", timeIt(func() { docker("save", "-o", dockerTar, "bench:1") }))
		note("rmi docker", timeIt(func() { docker("rmi", "bench:1") }))
		removeAll(t, e)
		note("load ours", timeIt(func() {
			f, _ := os.Open(dockerTar)
			defer f.Close()
			if _, err := e.s.Load(context.Background(), f, nil); err != nil {
				t.Fatal(err)
			}
		}))
		if got, err := e.s.Resolve("bench:1"); err != nil || got.ID != img.ID {
			t.Fatalf("bench:1 after load: %v %v", got, err)
		}
		note("save oci", timeIt(func() {
			if err := e.s.Save(context.Background(), io.Discard, []string{"bench:1"}, SaveOCI); err != nil {
				t.Fatal(err)
			}
		}))
		note("import ours", timeIt(func() {
			f, _ := os.Open(rootTar)
			defer f.Close()
			if _, err := e.s.Import(context.Background(), f, "imp:1", dockerspec.DockerOCIImageConfig{}, "", ocispec.Platform{}); err != nil {
				t.Fatal(err)
			}
		}))
		note("import docker", timeIt(func() { docker("import", rootTar, "imp:1") }))
		note("rmi ours", timeIt(func() {
			if _, err := e.s.Remove("imp:1", false, false); err != nil {
				t.Fatal(err)
			}
		}))
		note("rmi docker", timeIt(func() { docker("rmi", "imp:1") }))
	}
	report("save (docker archive)", best["save ours"], best["save docker"])
	report("load (docker archive)", best["load ours"], best["load docker"])
	report(fmt.Sprintf("import (%d MB tar)", rootfs.Len()>>20), best["import ours"], best["import docker"])
	report("rmi (with GC)", best["rmi ours"], best["rmi docker"])
	t.Logf("%-28s xmgr %7.0f ms", "save (OCI, blobs as kept)", best["save oci"].Seconds()*1000)
}
