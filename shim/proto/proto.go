// Package proto is the wire protocol of the xrt-shim control socket:
// length-prefixed frames whose payloads are small lists of string fields.
// It is shared by the shim and shim/client, and depends on nothing but the
// standard library's smallest packages, so the shim stays small in memory.
//
// A frame is a 4-byte big-endian length N, then N bytes: one kind byte and
// the payload. Requests and responses carry Fields; data frames carry raw
// bytes. docs/shim.md is the specification.
package proto

import (
	"errors"
	"io"
	"strconv"
)

// Version is the protocol version this package speaks. A request carries
// it in the field "v"; a server refuses any other.
const Version = 1

// MaxFrame bounds the body of one frame (kind byte and payload).
const MaxFrame = 1 << 20

// Kinds of frame.
const (
	KindRequest  byte = 'Q' // client to shim: Fields with "v" and "op"
	KindResponse byte = 'R' // shim to client: Fields, "error" set on failure
	KindStdin    byte = 'i' // client to shim: bytes for the process's stdin
	KindClose    byte = 'c' // client to shim: close the process's stdin
	KindResize   byte = 'w' // client to shim: Fields "width", "height"
	KindStdout   byte = 'o' // shim to client: bytes the process wrote to stdout (or its pty)
	KindStderr   byte = 'e' // shim to client: bytes the process wrote to stderr
	KindExit     byte = 'x' // shim to client: Fields of the exit status; the stream ends
	KindDetached byte = 'd' // shim to client: the detach keys were seen; the stream ends
)

// ErrFrameTooLarge is returned for a frame longer than MaxFrame.
var ErrFrameTooLarge = errors.New("frame too large")

// WriteFrame writes one frame. It issues a single write, so that frames
// from several goroutines do not interleave when the caller holds a lock
// around it.
func WriteFrame(w io.Writer, kind byte, payload []byte) error {
	if len(payload)+1 > MaxFrame {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 5+len(payload))
	putUint32(buf, uint32(len(payload)+1))
	buf[4] = kind
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame into buf (grown when needed) and returns its
// kind and payload, which aliases buf.
func ReadFrame(r io.Reader, buf []byte) (kind byte, payload []byte, newBuf []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := uint32(hdr[0])<<24 | uint32(hdr[1])<<16 | uint32(hdr[2])<<8 | uint32(hdr[3])
	if n == 0 {
		return 0, nil, buf, errors.New("empty frame")
	}
	if n > MaxFrame {
		return 0, nil, buf, ErrFrameTooLarge
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, buf, err
	}
	return buf[0], buf[1:], buf, nil
}

// Fields is an ordered list of string key/value pairs, the payload of
// requests, responses, resize and exit frames. On the wire each field is a
// uvarint key length, the key, a uvarint value length and the value.
type Fields []Field

// Field is one key/value pair.
type Field struct{ Key, Value string }

// Make builds Fields from key, value pairs (an odd last key gets "").
func Make(kv ...string) Fields {
	f := make(Fields, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		v := ""
		if i+1 < len(kv) {
			v = kv[i+1]
		}
		f = append(f, Field{Key: kv[i], Value: v})
	}
	return f
}

// Set adds or replaces key.
func (f *Fields) Set(key, value string) {
	for i := range *f {
		if (*f)[i].Key == key {
			(*f)[i].Value = value
			return
		}
	}
	*f = append(*f, Field{Key: key, Value: value})
}

// SetInt sets key to the decimal form of v.
func (f *Fields) SetInt(key string, v int64) { f.Set(key, strconv.FormatInt(v, 10)) }

// SetBool sets key to "1" when v is true and leaves it out otherwise.
func (f *Fields) SetBool(key string, v bool) {
	if v {
		f.Set(key, "1")
	}
}

// Get returns the value of key, or "" when it is missing.
func (f Fields) Get(key string) string {
	for _, kv := range f {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// Int returns key as an integer; a missing key is 0.
func (f Fields) Int(key string) (int64, error) {
	v := f.Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errors.New("field " + key + ": not an integer: " + strconv.Quote(v))
	}
	return n, nil
}

// Bool reports whether key is set to "1".
func (f Fields) Bool(key string) bool { return f.Get(key) == "1" }

// Marshal encodes the fields.
func (f Fields) Marshal() []byte {
	n := 0
	for _, kv := range f {
		n += 10 + len(kv.Key) + len(kv.Value)
	}
	b := make([]byte, 0, n)
	for _, kv := range f {
		b = appendUvarint(b, uint64(len(kv.Key)))
		b = append(b, kv.Key...)
		b = appendUvarint(b, uint64(len(kv.Value)))
		b = append(b, kv.Value...)
	}
	return b
}

// ErrBadFields is returned for a payload that does not decode as Fields.
var ErrBadFields = errors.New("malformed fields")

// UnmarshalFields decodes a payload made by Marshal.
func UnmarshalFields(b []byte) (Fields, error) {
	var f Fields
	for len(b) > 0 {
		var kv [2]string
		for i := range kv {
			n, w := uvarint(b)
			if w <= 0 || n > uint64(len(b)-w) {
				return nil, ErrBadFields
			}
			kv[i] = string(b[w : w+int(n)])
			b = b[w+int(n):]
		}
		f = append(f, Field{Key: kv[0], Value: kv[1]})
	}
	return f, nil
}

// Request returns the fields of a request for op, with the version set.
func Request(op string) Fields {
	return Make("v", strconv.Itoa(Version), "op", op)
}

// CheckVersion returns an error unless the request speaks Version.
func CheckVersion(f Fields) error {
	if v := f.Get("v"); v != strconv.Itoa(Version) {
		return errors.New("protocol version " + strconv.Quote(v) + " is not supported (this shim speaks " + strconv.Itoa(Version) + ")")
	}
	return nil
}

// Operations a request may name in its "op" field.
const (
	OpState      = "state"       // -> id, pid, status, bundle, and the exit fields once stopped
	OpWait       = "wait"        // blocks until the container exits -> exit fields
	OpKill       = "kill"        // signal (number), all ("1") -> nothing
	OpAttach     = "attach"      // stdin, stdout, stderr ("1"), detach-keys -> a stream
	OpResize     = "resize"      // width, height -> nothing
	OpExec       = "exec"        // process (OCI process JSON), terminal, stdin ("1") -> pid, then a stream
	OpCloseStdin = "close-stdin" // -> nothing
	OpShutdown   = "shutdown"    // -> nothing, or the runtime's failed delete; the shim exits once its container has stopped
)

// Exit status fields, in responses to state and wait and in exit frames.
const (
	FieldExitCode  = "exit-code"  // decimal; 128+N when killed by signal N
	FieldSignal    = "signal"     // signal number that killed the process, when one did
	FieldExitedAt  = "exited-at"  // RFC 3339 with nanoseconds, UTC
	FieldOOMKilled = "oom-killed" // "1" when the OOM killer ended a process of the container
	FieldError     = "error"      // set in a response when the request failed
)

// The encodings below are encoding/binary's, written out: that package
// pulls reflect into the shim.

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// uvarint decodes a uvarint; w <= 0 when b does not hold a valid one.
func uvarint(b []byte) (v uint64, w int) {
	var shift uint
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		if c < 0x80 {
			return v | uint64(c)<<shift, i + 1
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
