package shim

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/shim/proto"
)

// A client that never reads must not block the broadcast (the container's
// output path), and must not make the shim queue without bound; a client
// that reads gets everything, in order, then the final frame.
func TestHubSlowAndFastClients(t *testing.T) {
	slowR, slowW, err := os.Pipe()
	must(t, err)
	defer slowR.Close()
	fastR, fastW, err := os.Pipe()
	must(t, err)
	defer fastR.Close()

	var h hub
	var wg sync.WaitGroup
	slow := newClient(slowW, true, false, &wg)
	fast := newClient(fastW, true, true, &wg)
	h.add(slow)
	h.add(fast)

	got := make(chan []byte)
	go func() { // the fast reader
		var data []byte
		var buf []byte
		for {
			kind, payload, nb, err := proto.ReadFrame(fastR, buf)
			buf = nb
			if err != nil {
				got <- data
				return
			}
			if kind == proto.KindExit {
				data = append(data, '!')
				continue
			}
			data = append(data, payload...)
		}
	}()

	chunk := make([]byte, 1000)
	var want []byte
	done := make(chan struct{})
	go func() {
		for i := 0; i < 2000; i++ { // 2 MB: far over the slow client's queue
			for j := range chunk {
				chunk[j] = byte('a' + i%26)
			}
			h.broadcast(proto.KindStdout, chunk)
			want = append(want, chunk...)
			if i%100 == 0 {
				for fast.queued.Load() > 0 { // a reader that keeps up (no timing)
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("broadcast blocked on a client that does not read")
	}
	if q := slow.queued.Load(); q > clientQueueBytes {
		t.Errorf("slow client queues %d bytes, over %d", q, clientQueueBytes)
	}
	h.finishAll(proto.KindExit, nil)
	data := <-got
	if string(data) != string(want)+"!" {
		t.Errorf("fast client got %d bytes, want %d and the exit frame", len(data), len(want))
	}
	// Both writers end: the fast one after its final frame, the slow one
	// once its reader goes away.
	slowR.Close()
	wg.Wait()
}
