package logfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type entry struct {
	Log, Stream, Time string
}

func readEntries(t *testing.T, path string) []entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			t.Fatalf("time %q: %v", e.Time, err)
		}
		out = append(out, e)
	}
	return out
}

func TestEntries(t *testing.T) {
	long := strings.Repeat("x", maxEntry+10)
	cases := []struct {
		name   string
		writes []string
		flush  bool
		want   []string
	}{
		{"one line", []string{"hello\n"}, false, []string{"hello\n"}},
		{"two lines one write", []string{"a\nb\n"}, false, []string{"a\n", "b\n"}},
		{"line across writes", []string{"ab", "c\nd"}, false, []string{"abc\n"}},
		{"partial flushed at end", []string{"ab", "c\nd"}, true, []string{"abc\n", "d"}},
		{"escapes", []string{"q\"\\\t\x01<&>\r\n"}, false, []string{"q\"\\\t\x01<&>\r\n"}},
		{"invalid utf-8", []string{"a\xffb\n"}, false, []string{"a\ufffdb\n"}},
		{"utf-8 kept", []string{"héllo ☃\u2028\n"}, false, []string{"héllo ☃\u2028\n"}},
		{"long line split", []string{long + "\n"}, false, []string{long[:maxEntry], long[maxEntry:] + "\n"}},
		{"long partial split", []string{long}, true, []string{long[:maxEntry], long[maxEntry:]}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.log")
			w, err := Open(path, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			s := w.Stream("stdout")
			for _, p := range tc.writes {
				s.Write([]byte(p))
			}
			if tc.flush {
				s.Flush()
			}
			w.Close()
			got := readEntries(t, path)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d entries %q, want %q", len(got), got, tc.want)
			}
			for i := range got {
				if got[i].Log != tc.want[i] || got[i].Stream != "stdout" {
					t.Errorf("entry %d: %+v, want log %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestStreamsInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, _ := Open(path, 0, 1)
	out, errs := w.Stream("stdout"), w.Stream("stderr")
	out.Write([]byte("o1 "))
	errs.Write([]byte("e1\n"))
	out.Write([]byte("o2\n"))
	w.Close()
	got := readEntries(t, path)
	if len(got) != 2 || got[0] != (entry{"e1\n", "stderr", got[0].Time}) || got[1] != (entry{"o1 o2\n", "stdout", got[1].Time}) {
		t.Fatalf("got %+v", got)
	}
}

func TestRotation(t *testing.T) {
	cases := []struct {
		maxFile   int
		wantFiles []string
	}{
		{1, []string{"c.log"}},
		{3, []string{"c.log", "c.log.1", "c.log.2"}},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "c.log")
		w, _ := Open(path, 200, tc.maxFile)
		s := w.Stream("stdout")
		for i := 0; i < 20; i++ {
			s.Write([]byte("0123456789\n")) // about 80 bytes an entry
		}
		s.Write([]byte(strings.Repeat("0123456789\n", 20))) // one batch of many entries
		w.Close()
		var names []string
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			names = append(names, e.Name())
			if st, _ := e.Info(); st.Size() > 200 {
				t.Errorf("max-file %d: %s is %d bytes, over max-size", tc.maxFile, e.Name(), st.Size())
			}
		}
		if strings.Join(names, ",") != strings.Join(tc.wantFiles, ",") {
			t.Errorf("max-file %d: files %v, want %v", tc.maxFile, names, tc.wantFiles)
		}
		if got := readEntries(t, path); len(got) == 0 {
			t.Errorf("max-file %d: live file empty", tc.maxFile)
		}
	}
}

// fullDisk is a file that fails writes while full is set, after writing
// part of the data, as a disk filling up does.
type fullDisk struct {
	data []byte
	full bool
}

func (f *fullDisk) Write(p []byte) (int, error) {
	if f.full {
		n := len(p) / 2
		f.data = append(f.data, p[:n]...)
		return n, errors.New("no space left on device")
	}
	f.data = append(f.data, p...)
	return len(p), nil
}
func (f *fullDisk) Truncate(n int64) error { f.data = f.data[:n]; return nil }
func (f *fullDisk) Close() error           { return nil }

func TestFullDisk(t *testing.T) {
	disk := &fullDisk{}
	w := &Writer{path: "c.log", maxFile: 1, open: func(string) (file, int64, error) { return disk, 0, nil }, now: time.Now}
	w.f = disk
	s := w.Stream("stdout")
	s.Write([]byte("before\n"))
	disk.full = true
	if n, err := s.Write([]byte("lost one\nlost two\n")); n != 18 || err != nil {
		t.Fatalf("Write while full: %d, %v; want 18, nil", n, err)
	}
	if w.Dropped() == 0 {
		t.Fatal("no bytes counted as dropped")
	}
	disk.full = false
	s.Write([]byte("after\n"))
	lines := strings.Split(strings.TrimSuffix(string(disk.data), "\n"), "\n")
	var got []entry
	for _, l := range lines {
		var e entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v (a partial entry was left behind?)", l, err)
		}
		got = append(got, e)
	}
	if len(got) != 3 || got[0].Log != "before\n" || got[2].Log != "after\n" ||
		!strings.Contains(got[1].Log, "bytes of log entries were dropped: no space left on device") {
		t.Fatalf("entries %+v", got)
	}
	if w.Dropped() != 0 {
		t.Errorf("dropped count %d after the note", w.Dropped())
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	inputs := []string{"", "plain", "\x00\x1f\x7f", "<script>&", "\xe2\x82", "日本\u2029", string(all),
		"01234567\"01234567", "0123456789abcde\x1f", "abcdefgh<", "abcdefgh\x7f12345678"}
	// Every byte at every position of an 8-byte word, among plain bytes.
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 9; pos++ {
			b := []byte("abcdefghijklmnop")
			b[pos] = byte(c)
			inputs = append(inputs, string(b))
		}
	}
	for _, s := range inputs {
		want, _ := json.Marshal(s)
		if got := string(appendString(nil, []byte(s))); got != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(appendString(nil, []byte(s)), &back); err != nil {
			t.Errorf("%q: does not decode: %v", s, err)
		}
	}
}

// BenchmarkStream is the shim's hot path: 32 KB reads of 91-byte lines
// into json-file entries (to a file on the test's temp dir).
func BenchmarkStream(b *testing.B) {
	w, err := Open(filepath.Join(b.TempDir(), "c.log"), 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	s := w.Stream("stdout")
	chunk := []byte(strings.Repeat(strings.Repeat("0123456789", 9)+"\n", 360))
	b.SetBytes(int64(len(chunk)))
	for i := 0; i < b.N; i++ {
		s.Write(chunk)
	}
}

func BenchmarkAppendString(b *testing.B) {
	line := []byte(strings.Repeat("0123456789", 9) + "\n")
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		buf = appendString(buf[:0], line)
	}
}
