package layers

import (
	"hash"
	"sync"

	"github.com/opencontainers/go-digest"
)

// asyncDigester hashes on a goroutine of its own: the blob digest and the
// diff ID are two sha256 passes over up to twice the layer's bytes, the
// largest CPU cost of an unpack when there is little to inflate. Writes
// are gathered into 256 KiB chunks before they are handed over, so a
// stream of small reads (tar headers, small files) does not turn into a
// storm of goroutine wake-ups.
type asyncDigester struct {
	alg  digest.Algorithm
	h    hash.Hash
	buf  []byte
	ch   chan []byte
	free chan []byte
	done chan struct{}
	once sync.Once
}

const hashChunk = 256 << 10

func newAsyncDigester(alg digest.Algorithm) *asyncDigester {
	a := &asyncDigester{
		alg: alg, h: alg.Hash(),
		ch: make(chan []byte, 4), free: make(chan []byte, 5), done: make(chan struct{}),
	}
	a.buf = make([]byte, 0, hashChunk)
	for i := 0; i < 4; i++ {
		a.free <- make([]byte, 0, hashChunk)
	}
	go func() {
		defer close(a.done)
		for b := range a.ch {
			a.h.Write(b)
			a.free <- b[:0]
		}
	}()
	return a
}

func (a *asyncDigester) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		m := copy(a.buf[len(a.buf):cap(a.buf)], p)
		a.buf = a.buf[:len(a.buf)+m]
		p = p[m:]
		if len(a.buf) == cap(a.buf) {
			a.ch <- a.buf
			a.buf = <-a.free
		}
	}
	return n, nil
}

// Digest flushes and waits for the hashing to finish; no Write may follow.
func (a *asyncDigester) Digest() digest.Digest {
	a.stop()
	return digest.NewDigest(a.alg, a.h)
}

// stop flushes what is gathered and ends the goroutine; safe to call more
// than once.
func (a *asyncDigester) stop() {
	a.once.Do(func() {
		if len(a.buf) > 0 {
			a.ch <- a.buf
			a.buf = nil
		}
		close(a.ch)
	})
	<-a.done
}
