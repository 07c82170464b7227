package seccomp

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func sameFilter(a, b *Filter) bool {
	return a.flags == b.flags && a.notify == b.notify && slices.Equal(a.prog, b.prog) &&
		int(b.fprog.Len) == len(b.prog) && b.fprog.Filter == &b.prog[0]
}

func TestMarshalRoundTrip(t *testing.T) {
	s := rspec.LinuxSeccomp{
		DefaultAction: rspec.ActAllow,
		Flags:         []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog},
		Syscalls:      []rspec.LinuxSyscall{{Names: []string{"mkdir"}, Action: rspec.ActNotify}},
	}
	f, err := Build(&s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var g Filter
	if err := g.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !sameFilter(f, &g) {
		t.Fatalf("round trip changed the filter: %+v, want %+v", g, f)
	}

	damaged := map[string][]byte{
		"empty":     nil,
		"truncated": b[:len(b)-9],
		"flipped":   append(slices.Clone(b[:20]), append([]byte{b[20] ^ 1}, b[21:]...)...),
		"magic":     append([]byte("XRTSCMP0"), b[8:]...),
	}
	for name, d := range damaged {
		if err := new(Filter).UnmarshalBinary(d); err == nil {
			t.Errorf("%s: UnmarshalBinary accepted it", name)
		}
	}
	f.Release()
	if _, err := f.MarshalBinary(); err == nil {
		t.Error("MarshalBinary of a released filter succeeded")
	}
}

func TestBuildCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s := dockerLike()
	want, err := Build(&s)
	if err != nil {
		t.Fatal(err)
	}

	first, err := BuildCached(&s, dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one file", files)
	}
	if !sameFilter(want, first) {
		t.Fatal("first BuildCached differs from Build")
	}
	// A hit reads the file: replace it with another profile's filter and
	// the hit returns that one.
	other, err := Build(&rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow})
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := other.MarshalBinary()
	if err := os.WriteFile(files[0], ob, 0o600); err != nil {
		t.Fatal(err)
	}
	if hit, err := BuildCached(&s, dir); err != nil || !sameFilter(other, hit) {
		t.Fatalf("second BuildCached did not read the cache: %v", err)
	}
	// A damaged entry is rebuilt and rewritten.
	if err := os.WriteFile(files[0], ob[:len(ob)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := BuildCached(&s, dir); err != nil || !sameFilter(want, got) {
		t.Fatalf("BuildCached over a damaged entry: %v", err)
	}
	if b, _ := os.ReadFile(files[0]); new(Filter).UnmarshalBinary(b) != nil {
		t.Fatal("damaged entry not rewritten")
	}
	// Another profile gets another key; a refused one is not cached.
	s.Syscalls[0].Names = s.Syscalls[0].Names[1:]
	if _, err := BuildCached(&s, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildCached(&rspec.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"}, dir); err == nil {
		t.Fatal("BuildCached accepted a bad action")
	}
	if files, _ = filepath.Glob(filepath.Join(dir, "*")); len(files) != 2 {
		t.Fatalf("cache holds %v, want two files", files)
	}
	// An unusable directory only costs time.
	if f, err := BuildCached(&s, "/proc/xrt-none"); err != nil || f == nil {
		t.Fatalf("BuildCached with an unwritable dir: %v", err)
	}
}

func BenchmarkBuildCachedHit(b *testing.B) {
	dir := b.TempDir()
	s := dockerLike()
	if _, err := BuildCached(&s, dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := BuildCached(&s, dir); err != nil {
			b.Fatal(err)
		}
	}
}
