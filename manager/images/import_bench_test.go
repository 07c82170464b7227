package images

import (
	"archive/tar"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBenchImport times only import, ours and `docker import` alternating
// on the same rootfs tar (about 97 MB: random data, text, 10,000 small
// files), plain and gzipped, best of five each (the machine is shared).
// It prints the numbers and asserts nothing about time. Run with
// XMGR_BENCH=import (it starts dockerd).
func TestBenchImport(t *testing.T) {
	if os.Getenv("XMGR_BENCH") != "import" {
		t.Skip("set XMGR_BENCH=import to compare import with docker import")
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
	files := []tfile{{name: "random.bin", body: random(30 << 20)}, {name: "text.txt", body: text.String()}}
	for i := 0; i < 100; i++ {
		files = append(files, tfile{name: fmt.Sprintf("many/%02d/", i), typ: tar.TypeDir})
		for j := 0; j < 100; j++ {
			files = append(files, tfile{name: fmt.Sprintf("many/%02d/f%03d", i, j), body: random(rnd.Intn(2048))})
		}
	}
	files = append(files, tfile{name: "random2.bin", body: random(20 << 20)})
	rootfs := layerTar(t, files...)
	dir := t.TempDir()
	plain := filepath.Join(dir, "rootfs.tar")
	gzipped := filepath.Join(dir, "rootfs.tar.gz")
	if err := os.WriteFile(plain, rootfs, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-c", "gzip -1 -c "+plain+" > "+gzipped).CombinedOutput(); err != nil {
		t.Fatalf("gzip: %v %s", err, out)
	}

	for _, in := range []string{plain, gzipped} {
		var ours, theirs time.Duration
		for round := 0; round < 5; round++ {
			start := time.Now()
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.Import(context.Background(), f, "m5imp:1", dockerspec.DockerOCIImageConfig{}, "", ocispec.Platform{}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if d := time.Since(start); round == 0 || d < ours {
				ours = d
			}
			start = time.Now()
			docker("import", in, "m5imp:1")
			if d := time.Since(start); round == 0 || d < theirs {
				theirs = d
			}
			if _, err := e.s.Remove("m5imp:1", false, false); err != nil {
				t.Fatal(err)
			}
			docker("rmi", "m5imp:1")
		}
		t.Logf("import %-14s (%d MB tar)  xmgr %5.0f ms   docker %5.0f ms   ratio %.2f",
			filepath.Base(in), len(rootfs)>>20, ours.Seconds()*1000, theirs.Seconds()*1000, ours.Seconds()/theirs.Seconds())
	}
}
