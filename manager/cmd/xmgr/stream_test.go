package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/xrt-dev/xrt/manager/api/client"
)

func frame(stream byte, payload string) []byte {
	hdr := make([]byte, 8, 8+len(payload))
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	return append(hdr, payload...)
}

func TestDemux(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(streamStdout, "out1\n"))
	in.Write(frame(streamStderr, "err1\n"))
	in.Write(frame(streamStdout, strings.Repeat("x", 70000)))
	in.Write(frame(streamStdin, "in-as-out\n"))
	var out, errOut bytes.Buffer
	// One byte a read: frames cut anywhere still decode.
	if err := demux(&out, &errOut, iotest.OneByteReader(&in)); err != nil {
		t.Fatal(err)
	}
	if want := "out1\n" + strings.Repeat("x", 70000) + "in-as-out\n"; out.String() != want {
		t.Errorf("stdout: %d bytes, want %d", out.Len(), len(want))
	}
	if errOut.String() != "err1\n" {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestDemuxErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	sys := append(frame(streamStdout, "a"), frame(streamSystem, "the daemon failed")...)
	if err := demux(&out, &errOut, bytes.NewReader(sys)); err == nil || err.Error() != "the daemon failed" {
		t.Errorf("system frame: got %v", err)
	}
	if out.String() != "a" {
		t.Errorf("stdout before the error: %q", out.String())
	}
	if err := demux(&out, &errOut, bytes.NewReader([]byte{1, 0, 0})); err == nil {
		t.Error("a cut header: no error")
	}
	if err := demux(&out, &errOut, bytes.NewReader(frame(streamStdout, "abc")[:10])); err == nil {
		t.Error("a cut payload: no error")
	}
	if err := demux(&out, &errOut, bytes.NewReader(frame(9, "abc"))); err == nil {
		t.Error("an unknown stream: no error")
	}
}

func TestParseDetachKeys(t *testing.T) {
	tests := map[string][]byte{
		"ctrl-p,ctrl-q": {16, 17},
		"a,ctrl-@":      {'a', 0},
		"ctrl-[,ctrl-_": {27, 31},
		"CTRL-A":        {1},
	}
	for in, want := range tests {
		got, err := parseDetachKeys(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: got %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ctrl-", "ctrl-1", "ctrl-ab", "alt-x", "a,,b"} {
		if got, err := parseDetachKeys(bad); err == nil {
			t.Errorf("%q: no error, got %v", bad, got)
		}
	}
}

func TestEscapeReader(t *testing.T) {
	keys := []byte{16, 17}
	tests := []struct {
		in       string
		out      string
		detached bool
	}{
		{"hello", "hello", false},
		{"ab\x10\x11cd", "ab", true},
		{"a\x10b", "a\x10b", false},      // a partial match is passed on
		{"a\x10\x10\x11", "a\x10", true}, // a restart of the sequence
		{"tail\x10", "tail\x10", false},  // held back, then flushed at EOF
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tt.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(&escapeReader{r: r, keys: keys})
			if string(got) != tt.out || errors.Is(err, errDetached) != tt.detached {
				t.Errorf("%q (one byte %v): got %q %v, want %q detached=%v", tt.in, oneByte, got, err, tt.out, tt.detached)
			}
		}
	}
	// Small reads still get everything.
	r := &escapeReader{r: strings.NewReader("x\x10y"), keys: keys}
	var got []byte
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(got) != "x\x10y" {
		t.Errorf("1-byte buffer: got %q", got)
	}
}

// fakeConn is the client's end of a hijacked connection whose far end
// the test plays.
func fakeConn(t *testing.T) (client.HijackedResponse, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return client.HijackedResponse{Conn: halfCloser{a}, Reader: bufio.NewReader(a)}, b
}

// halfCloser makes net.Pipe's end record CloseWrite as a close of input.
type halfCloser struct{ net.Conn }

func (h halfCloser) CloseWrite() error { return nil }

func TestPumpOutputEnds(t *testing.T) {
	h, far := fakeConn(t)
	go func() {
		far.Write(frame(streamStdout, "hi\n"))
		far.Write(frame(streamStderr, "oops\n"))
		far.Close()
	}()
	var out, errOut bytes.Buffer
	if err := pump(context.Background(), h, streams{stdout: &out, stderr: &errOut}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hi\n" || errOut.String() != "oops\n" {
		t.Fatalf("got %q %q", out.String(), errOut.String())
	}
}

func TestPumpInputAndTTY(t *testing.T) {
	h, far := fakeConn(t)
	go func() {
		// Echo what comes in, raw (a tty), then end.
		b := make([]byte, 5)
		io.ReadFull(far, b)
		far.Write(b)
		far.Close()
	}()
	var out bytes.Buffer
	err := pump(context.Background(), h, streams{stdin: strings.NewReader("hello"), stdout: &out, tty: true, detachKeys: []byte{16, 17}})
	if err != nil || out.String() != "hello" {
		t.Fatalf("got %q %v", out.String(), err)
	}
}

func TestPumpDetach(t *testing.T) {
	h, far := fakeConn(t)
	go io.Copy(io.Discard, far)
	done := make(chan error, 1)
	go func() {
		done <- pump(context.Background(), h, streams{stdin: strings.NewReader("ls\x10\x11"), stdout: io.Discard, tty: true, detachKeys: []byte{16, 17}})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errDetached) {
			t.Fatalf("got %v, want detached", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the detach keys did not end the stream")
	}
}

func TestPumpContext(t *testing.T) {
	h, _ := fakeConn(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pump(ctx, h, streams{stdout: io.Discard}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestStartErrorCodes(t *testing.T) {
	tests := map[string]int{
		`exec: "nope": executable file not found in $PATH`: 127,
		"open /x: no such file or directory":               127,
		"exec /etc/passwd: permission denied":              126,
		"network foo not found":                            125,
	}
	for msg, want := range tests {
		var ce *codedError
		if !errors.As(startError(errors.New(msg)), &ce) || ce.ExitCode() != want {
			t.Errorf("%q: want exit code %d", msg, want)
		}
	}
}
