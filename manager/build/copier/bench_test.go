package copier

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Run with: go test -run XXX -bench . -benchtime 20x ./manager/build/copier/

func benchContext(b *testing.B) (string, Source) {
	dir := b.TempDir()
	big := make([]byte, 5<<20)
	rand.Read(big)
	must(b, os.WriteFile(filepath.Join(dir, "big"), big, 0644))
	for i := 0; i < 1000; i++ {
		p := filepath.Join(dir, "tree", fmt.Sprintf("d%02d", i/50), fmt.Sprintf("f%04d.txt", i))
		must(b, os.MkdirAll(filepath.Dir(p), 0755))
		must(b, os.WriteFile(p, []byte(fmt.Sprintf("small file %d\n", i)), 0644))
	}
	return dir, Source{Root: dir, Context: true}
}

func BenchmarkCopier(b *testing.B) {
	_, src := benchContext(b)
	precomputed := src
	precomputed.ContentSum = func(string) (string, bool) { return "sha256:0", true }
	for _, source := range []string{"big", "tree"} {
		opts := Options{Sources: []string{source}, Dest: "/app/"}
		b.Run("Checksum/"+source, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Checksum(context.Background(), src, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("ChecksumWithContentSum/"+source, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Checksum(context.Background(), precomputed, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Copy/"+source, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				rootfs := b.TempDir()
				b.StartTimer()
				if err := Copy(context.Background(), src, rootfs, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
