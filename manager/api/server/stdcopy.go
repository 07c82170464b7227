package server

import (
	"encoding/binary"
	"io"
	"sync"
)

// Stream numbers of Docker's multiplexed ("stdcopy") framing.
const (
	streamStdin  byte = 0
	streamStdout byte = 1
	streamStderr byte = 2
)

// frameHeaderLen is the size of a frame's header: the stream number,
// three zero bytes and the payload's length as a big-endian uint32.
const frameHeaderLen = 8

// muxWriter is one stream of a multiplexed connection. Without a tty,
// Docker sends stdout and stderr over one connection as frames, each a
// header and a payload; the writers of one connection share a lock so
// that frames from two streams never interleave.
type muxWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
}

// newMux returns the stdout and stderr writers of a multiplexed w.
func newMux(w io.Writer) (stdout, stderr io.Writer) {
	mu := &sync.Mutex{}
	return &muxWriter{mu: mu, w: w, stream: streamStdout}, &muxWriter{mu: mu, w: w, stream: streamStderr}
}

func (m *muxWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	frame := make([]byte, frameHeaderLen+len(p))
	frame[0] = m.stream
	binary.BigEndian.PutUint32(frame[4:frameHeaderLen], uint32(len(p)))
	copy(frame[frameHeaderLen:], p)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.w.Write(frame); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lockedWriter serializes writes of several writers (a tty's stdout and
// stderr) to one raw connection.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// outputStreams returns the writers for a process's stdout and stderr
// on w: frames without a tty, the raw bytes with one. A stream not
// wanted is nil.
func outputStreams(w io.Writer, tty, wantStdout, wantStderr bool) (stdout, stderr io.Writer) {
	if tty {
		lw := &lockedWriter{mu: &sync.Mutex{}, w: w}
		stdout, stderr = lw, lw
	} else {
		stdout, stderr = newMux(w)
	}
	if !wantStdout {
		stdout = nil
	}
	if !wantStderr {
		stderr = nil
	}
	return stdout, stderr
}
