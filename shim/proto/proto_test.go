package proto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFieldsRoundTrip(t *testing.T) {
	cases := []Fields{
		nil,
		Make("v", "1", "op", "state"),
		Make("", "", "process", `{"args":["sh"]}`, "error", strings.Repeat("é\n\x00", 300)),
	}
	for _, f := range cases {
		got, err := UnmarshalFields(f.Marshal())
		if err != nil || len(got) != len(f) {
			t.Fatalf("%q: got %q, %v", f, got, err)
		}
		for i := range f {
			if got[i] != f[i] {
				t.Errorf("field %d: %q, want %q", i, got[i], f[i])
			}
		}
	}
}

func TestUnmarshalFieldsRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{{5, 'a'}, {1, 'a', 9}, {0x80}, {1, 'k', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := UnmarshalFields(b); !errors.Is(err, ErrBadFields) {
			t.Errorf("%v: err %v", b, err)
		}
	}
}

func TestFieldAccessors(t *testing.T) {
	f := Request(OpKill)
	f.SetInt("signal", 9)
	f.SetBool("all", true)
	f.SetBool("none", false)
	f.Set("signal", "15")
	if n, err := f.Int("signal"); n != 15 || err != nil {
		t.Errorf("signal %d %v", n, err)
	}
	if !f.Bool("all") || f.Bool("none") || f.Get("none") != "" {
		t.Errorf("bools: %q", f)
	}
	if n, err := f.Int("missing"); n != 0 || err != nil {
		t.Errorf("missing: %d %v", n, err)
	}
	f.Set("bad", "x")
	if _, err := f.Int("bad"); err == nil {
		t.Error("a non-number parsed")
	}
	if err := CheckVersion(f); err != nil {
		t.Error(err)
	}
	if err := CheckVersion(Make("v", "2")); err == nil || !strings.Contains(err.Error(), `"2" is not supported`) {
		t.Errorf("version 2: %v", err)
	}
}

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(WriteFrame(&b, KindRequest, Request(OpState).Marshal()))
	must(WriteFrame(&b, KindStdout, []byte("hello")))
	must(WriteFrame(&b, KindClose, nil))
	if err := WriteFrame(&b, KindStdout, make([]byte, MaxFrame)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v", err)
	}
	var buf []byte
	want := []struct {
		kind byte
		data string
	}{{KindRequest, string(Request(OpState).Marshal())}, {KindStdout, "hello"}, {KindClose, ""}}
	for _, w := range want {
		kind, payload, nb, err := ReadFrame(&b, buf)
		buf = nb
		if err != nil || kind != w.kind || string(payload) != w.data {
			t.Fatalf("frame %c: got %c %q %v", w.kind, kind, payload, err)
		}
	}
	if _, _, _, err := ReadFrame(&b, buf); err != io.EOF {
		t.Errorf("at the end: %v", err)
	}
	// A truncated frame, a huge length and an empty frame are errors.
	for _, in := range [][]byte{{0, 0, 0, 5, 'o', 'a'}, {0xff, 0, 0, 0}, {0, 0, 0, 0}} {
		if _, _, _, err := ReadFrame(bytes.NewReader(in), nil); err == nil || err == io.EOF {
			t.Errorf("%v: err %v", in, err)
		}
	}
}
