// Package logfile writes a container's output in Docker's json-file log
// format: one JSON object a line, {"log":"...","stream":"stdout","time":"..."},
// rotated by size and count as name.log, name.log.1, name.log.2, ...
//
// It is written for the shim's two constraints: the container must never
// block on its log (a write error, a full disk included, drops the bytes and
// counts them; a note line records the loss once writes succeed again), and
// the shim must stay small (no encoding/json: the encoder is hand-written and
// reuses one buffer).
package logfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// maxEntry is the longest "log" value of one entry, as Docker splits
// messages: a longer line becomes several entries, all but the last without
// a trailing newline.
const maxEntry = 16 << 10

// file is what the writer needs from an *os.File; tests replace it.
type file interface {
	Write([]byte) (int, error)
	Truncate(int64) error
	Close() error
}

// Writer is a rotating json-file log shared by the streams of one container.
type Writer struct {
	mu      sync.Mutex
	path    string
	maxSize int64 // 0: never rotate
	maxFile int   // files kept, the live one included; < 2 truncates instead
	f       file
	size    int64
	buf     []byte // one batch of encoded entries
	ts      []byte // the formatted time of the batch
	dropped int64  // bytes of output lost since the last successful write
	lastErr error
	open    func(path string) (file, int64, error)
	now     func() time.Time
}

// Open opens (appending to) or creates the log at path. maxSize is the size
// in bytes at which the file rotates (0: never); maxFile the number of files
// kept, the live one included.
func Open(path string, maxSize int64, maxFile int) (*Writer, error) {
	w := &Writer{path: path, maxSize: maxSize, maxFile: maxFile, open: openFile, now: time.Now}
	f, size, err := w.open(path)
	if err != nil {
		return nil, err
	}
	w.f, w.size = f, size
	return w, nil
}

func openFile(path string) (file, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// Dropped returns the bytes of output lost and not yet noted in the log.
func (w *Writer) Dropped() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Close closes the live file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Stream returns a writer of one stream ("stdout" or "stderr") into w. Each
// Stream keeps its own unfinished line; it is not safe for concurrent use,
// but several Streams of one Writer are.
func (w *Writer) Stream(name string) *Stream {
	return &Stream{w: w, name: name}
}

// Stream cuts one stream's bytes into entries.
type Stream struct {
	w       *Writer
	name    string
	pending []byte // the start of a line not yet ended
}

// Write logs p. It never fails: bytes that cannot be written are counted
// as dropped. Complete lines become entries; the rest waits for its newline
// (or for maxEntry bytes, or Flush).
func (s *Stream) Write(p []byte) (int, error) {
	n := len(p)
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	now := s.w.now()
	// One time for every entry of this read, formatted once.
	ts := now.UTC().AppendFormat(s.w.ts[:0], time.RFC3339Nano)
	s.w.ts = ts
	b := s.w.buf[:0]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxEntry - len(s.pending)
			if len(p) < room {
				s.pending = append(s.pending, p...)
				break
			}
			s.pending = append(s.pending, p[:room]...)
			p = p[room:]
			b = appendEntry(b, s.pending, s.name, ts)
			s.pending = s.pending[:0]
			continue
		}
		line := p[:i+1]
		p = p[i+1:]
		if len(s.pending) > 0 {
			s.pending = append(s.pending, line...)
			line = s.pending
		}
		for len(line) > maxEntry {
			b = appendEntry(b, line[:maxEntry], s.name, ts)
			line = line[maxEntry:]
		}
		b = appendEntry(b, line, s.name, ts)
		s.pending = s.pending[:0]
	}
	if cap(s.pending) > 2*maxEntry {
		s.pending = nil
	}
	s.w.write(b, now)
	s.w.buf = b[:0]
	if cap(s.w.buf) > 256<<10 {
		s.w.buf = nil // a burst should not pin a big buffer for the container's life
	}
	return n, nil
}

// Flush logs the unfinished line, if any, as a partial entry (at the end of
// the stream).
func (s *Stream) Flush() {
	if len(s.pending) == 0 {
		return
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	now := s.w.now()
	b := appendEntry(s.w.buf[:0], s.pending, s.name, now.UTC().AppendFormat(nil, time.RFC3339Nano))
	s.pending = s.pending[:0]
	s.w.write(b, now)
	s.w.buf = b[:0]
}

// write appends b to the live file, rotating first when it would outgrow
// maxSize. Called with mu held; ts is the time of the entries in b.
func (w *Writer) write(b []byte, ts time.Time) {
	if len(b) == 0 {
		return
	}
	if w.f == nil {
		w.reopen()
		if w.f == nil {
			w.dropped += int64(len(b))
			return
		}
	}
	if w.dropped > 0 {
		note := appendEntry(nil, []byte("xrt-shim: "+strconv.FormatInt(w.dropped, 10)+
			" bytes of log entries were dropped: "+errText(w.lastErr)+"\n"), "stderr", ts.UTC().AppendFormat(nil, time.RFC3339Nano))
		if !w.append(note) {
			w.dropped += int64(len(b))
			return
		}
		w.dropped = 0
	}
	rotate := w.maxSize > 0
	for len(b) > 0 {
		chunk := b
		if rotate && w.size+int64(len(b)) > w.maxSize {
			// Fill the live file up to maxSize with whole entries, then rotate.
			cut := lastLineEnd(b, w.maxSize-w.size)
			if cut == 0 && w.size == 0 {
				cut = bytes.IndexByte(b, '\n') + 1 // one entry larger than maxSize goes alone
			}
			if cut <= 0 {
				w.rotate()
				if w.f == nil {
					w.dropped += int64(len(b))
					return
				}
				// A rotation that failed leaves a non-empty file: write on
				// past maxSize rather than loop or lose output.
				rotate = w.size == 0
				continue
			}
			chunk = b[:cut]
		}
		if !w.append(chunk) {
			w.dropped += int64(len(b))
			return
		}
		b = b[len(chunk):]
	}
}

// lastLineEnd returns the length of the longest prefix of b that ends with
// a newline and is at most room bytes; 0 when there is none.
func lastLineEnd(b []byte, room int64) int {
	if room <= 0 {
		return 0
	}
	if int64(len(b)) > room {
		b = b[:room]
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return 0
}

// append writes b whole or not at all: a short write is cut off again, so
// that the file never holds half an entry.
func (w *Writer) append(b []byte) bool {
	n, err := w.f.Write(b)
	if err == nil && n == len(b) {
		w.size += int64(n)
		return true
	}
	if err == nil {
		err = errShortWrite
	}
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err // the note names the file's problem, not the file
	}
	w.lastErr = err
	if n > 0 {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.size += int64(n) // the fragment stays; keep the count right
		}
	}
	return false
}

// rotate renames name.log.(i) to name.log.(i+1), dropping the oldest, and
// starts a new live file. With maxFile < 2 the live file is truncated.
func (w *Writer) rotate() {
	if w.maxFile < 2 {
		if err := w.f.Truncate(0); err != nil {
			w.lastErr = err
			return
		}
		w.size = 0
		return
	}
	w.f.Close()
	w.f = nil
	for i := w.maxFile - 1; i > 0; i-- {
		from := w.path
		if i > 1 {
			from += "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, w.path+"."+strconv.Itoa(i)); err != nil && !os.IsNotExist(err) {
			w.lastErr = err
		}
	}
	w.reopen()
}

func (w *Writer) reopen() {
	f, size, err := w.open(w.path)
	if err != nil {
		w.lastErr = err
		return
	}
	w.f, w.size = f, size
}

type constErr string

func (e constErr) Error() string { return string(e) }

const errShortWrite = constErr("short write")

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// appendEntry appends one json-file line to b; ts is the time, formatted.
func appendEntry(b, msg []byte, stream string, ts []byte) []byte {
	b = append(b, `{"log":`...)
	b = appendString(b, msg)
	b = append(b, `,"stream":"`...)
	b = append(b, stream...)
	b = append(b, `","time":"`...)
	b = append(b, ts...)
	return append(b, "\"}\n"...)
}

const hex = "0123456789abcdef"

// AppendString appends s to b as a JSON string (the shim writes its state
// files with it).
func AppendString(b []byte, s string) []byte { return appendString(b, []byte(s)) }

// safe holds the ASCII bytes a JSON string takes as they are (as
// encoding/json's HTML-safe set: no control characters, ", \\, <, > or &).
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether the eight bytes of x are all safe ASCII: none is
// non-ASCII, a control character, ", \\, <, > or &. Bit tricks: byte by
// byte, (v-ones)&^v has its high bit set where v is zero, and x-ones*0x20
// where x is below 0x20 (the answer for the word is exact; only which byte
// can be off, which is not asked).
func plain8(x uint64) bool {
	t := x | (x-ones*0x20)&^x
	y := x ^ (ones * '"')
	t |= (y - ones) &^ y
	y = x ^ (ones * '\\')
	t |= (y - ones) &^ y
	y = x ^ (ones * '<')
	t |= (y - ones) &^ y
	y = x ^ (ones * '>')
	t |= (y - ones) &^ y
	y = x ^ (ones * '&')
	t |= (y - ones) &^ y
	return t&highs == 0
}

// appendString appends s as a JSON string, byte for byte as encoding/json
// writes it: invalid UTF-8 becomes U+FFFD, and <, >, & are escaped too, as
// in Docker's logs.
func appendString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time: most log output needs no escaping.
		if i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
