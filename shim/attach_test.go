package shim

import (
	"bytes"
	"testing"
)

func TestParseDetachKeys(t *testing.T) {
	cases := []struct {
		in   string
		want []byte
		err  bool
	}{
		{"ctrl-p,ctrl-q", []byte{0x10, 0x11}, false},
		{"ctrl-a", []byte{1}, false},
		{"ctrl-@,ctrl-[,ctrl-_", []byte{0, 0x1b, 0x1f}, false},
		{"x,ctrl-Z", []byte{'x', 0x1a}, false},
		{"ctrl-1", nil, true},
		{"ctrl-pq", nil, true},
		{"ab", nil, true},
		{"", nil, true},
	}
	for _, tc := range cases {
		got, err := ParseDetachKeys(tc.in)
		if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
			t.Errorf("ParseDetachKeys(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestDetacher(t *testing.T) {
	keys := []byte{0x10, 0x11} // ctrl-p ctrl-q
	cases := []struct {
		name   string
		chunks []string
		want   string // what passes through
		detach bool
	}{
		{"plain", []string{"ls\n"}, "ls\n", false},
		{"sequence", []string{"ab\x10\x11cd"}, "ab", true},
		{"split across chunks", []string{"ab\x10", "\x11"}, "ab", true},
		{"broken sequence passes", []string{"a\x10b"}, "a\x10b", false},
		{"held byte released later", []string{"a\x10", "b"}, "a\x10b", false},
		{"repeated first key", []string{"\x10\x10\x11"}, "\x10", true},
		{"lone first key at end held", []string{"a\x10"}, "a", false},
	}
	for _, tc := range cases {
		d := detacher{keys: keys}
		var out []byte
		detached := false
		for _, c := range tc.chunks {
			o, det := d.filter([]byte(c))
			out = append(out, o...)
			if det {
				detached = true
				break
			}
		}
		if string(out) != tc.want || detached != tc.detach {
			t.Errorf("%s: passed %q detach %v; want %q %v", tc.name, out, detached, tc.want, tc.detach)
		}
	}
}
