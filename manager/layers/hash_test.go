package layers

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The async digester gives sha256 of whatever was written, however the
// writes are cut.
func TestAsyncDigester(t *testing.T) {
	data := make([]byte, 3*hashChunk+12345)
	rand.New(rand.NewSource(1)).Read(data)
	for _, size := range []int{0, 1, 511, hashChunk - 1, hashChunk, hashChunk + 1, len(data)} {
		a := newAsyncDigester(digest.SHA256)
		for r := bytes.NewReader(data); ; {
			chunk := make([]byte, max(size, 1))
			n, _ := r.Read(chunk)
			if n == 0 {
				break
			}
			a.Write(chunk[:n])
		}
		if got, want := a.Digest(), digest.FromBytes(data); got != want {
			t.Errorf("writes of %d: %s, want %s", size, got, want)
		}
		a.stop() // again: harmless
	}
	if got := newAsyncDigester(digest.SHA256).Digest(); got != digest.FromBytes(nil) {
		t.Errorf("empty: %s", got)
	}
}
