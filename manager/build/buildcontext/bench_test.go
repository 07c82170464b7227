package buildcontext

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lukechampine.com/blake3"
)

// benchTree is the benchmark's context: a 5 MB file and 50 small ones
// (52 files with the Dockerfile).
func benchTree(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	big := make([]byte, 5<<20)
	rand.New(rand.NewSource(1)).Read(big)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "Dockerfile"), []byte("FROM busybox\nCOPY . /app\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644))
	for i := range 50 {
		d := filepath.Join(root, fmt.Sprintf("dir%d", i%5))
		must(os.MkdirAll(d, 0o755))
		must(os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d.txt", i)), bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*40), 0o644))
	}
	return root
}

func BenchmarkTar(b *testing.B) {
	root := benchTree(b)
	b.ResetTimer()
	for range b.N {
		if _, err := Tar(root, "", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	root := benchTree(b)
	var buf bytes.Buffer
	if _, err := Tar(root, "", &buf); err != nil {
		b.Fatal(err)
	}
	parent := b.TempDir()
	b.ResetTimer()
	for range b.N {
		c, err := Open(context.Background(), bytes.NewReader(buf.Bytes()), parent, "")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkTarOpen is the path of a build: Tar on one side of a pipe,
// Open on the other, concurrently.
func BenchmarkTarOpen(b *testing.B) {
	root := benchTree(b)
	parent := b.TempDir()
	b.ResetTimer()
	for range b.N {
		pr, pw := io.Pipe()
		go func() {
			_, err := Tar(root, "", pw)
			pw.CloseWithError(err)
		}()
		c, err := Open(context.Background(), pr, parent, "")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// TestSpeed logs the times the task asks for (go test -run Speed -v).
func TestSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	root := benchTree(t)
	var buf bytes.Buffer
	// best runs f ten times and keeps the shortest time f reports.
	best := func(f func() time.Duration) time.Duration {
		var least time.Duration
		for i := range 10 {
			if d := f(); i == 0 || d < least {
				least = d
			}
		}
		return least
	}
	timed := func(f func()) func() time.Duration {
		return func() time.Duration {
			start := time.Now()
			f()
			return time.Since(start)
		}
	}
	tarT := best(timed(func() {
		buf.Reset()
		if _, err := Tar(root, "", &buf); err != nil {
			t.Fatal(err)
		}
	}))
	parent := t.TempDir()
	closeT := time.Hour
	openT := best(func() time.Duration {
		start := time.Now()
		c, err := Open(context.Background(), bytes.NewReader(buf.Bytes()), parent, "")
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		closeT = min(closeT, timed(func() { c.Close() })())
		return d
	})
	big, err := os.ReadFile(filepath.Join(root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	hashT := best(timed(func() { blake3.Sum256(big) }))
	t.Logf("5 MB + 50 small files: Tar %.1f ms, Open %.1f ms, Close %.1f ms; BLAKE3 of the 5 MB alone %.1f ms (best of 10)",
		ms(tarT), ms(openT), ms(closeT), ms(hashT))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
