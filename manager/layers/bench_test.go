package layers

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/snapshots"
)

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond)
}

func minimum(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m.Round(time.Millisecond)
}

func cpuTime(who int) time.Duration {
	var ru unix.Rusage
	unix.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestApplySpeed measures Apply beside GNU tar -xzf of the same gzip file
// and prints both (no assertion on time). Opt in: XMGR_BENCH=1.
func TestApplySpeed(t *testing.T) {
	if os.Getenv("XMGR_BENCH") == "" {
		t.Skip("set XMGR_BENCH=1 to measure Apply against tar -xzf")
	}
	requireRoot(t)
	for _, tc := range []struct {
		name string
		make func(t *testing.T) []byte
	}{
		{"10000 small files", smallFilesTar},
		{"50 MB random data", randomTar},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fromTar(t, tc.make(t))
			blobFile := filepath.Join(t.TempDir(), "layer.tar.gz")
			if err := os.WriteFile(blobFile, l.blob, 0o644); err != nil {
				t.Fatal(err)
			}
			const runs = 7
			var ours, theirs, oursCPU, theirsCPU []time.Duration
			// Nothing is deleted between runs, and each run starts after a
			// sync: deletes (with the discard mount option) and writeback of
			// the previous run otherwise stall the journal at random.
			for i := 0; i < runs; i++ {
				f := newFixture(t, "overlay2")
				in, _ := os.Open(blobFile)
				unix.Sync()
				cpu := cpuTime(unix.RUSAGE_SELF)
				start := time.Now()
				if _, err := f.ls.Apply(ctx, in, l.desc, l.diffID, ""); err != nil {
					t.Fatal(err)
				}
				ours = append(ours, time.Since(start))
				oursCPU = append(oursCPU, cpuTime(unix.RUSAGE_SELF)-cpu)
				in.Close()

				dst := t.TempDir()
				unix.Sync()
				cpu = cpuTime(unix.RUSAGE_CHILDREN)
				start = time.Now()
				out, err := exec.Command("tar", "--same-owner", "-xzf", blobFile, "-C", dst).CombinedOutput()
				if err != nil {
					t.Fatalf("tar: %v: %s", err, out)
				}
				theirs = append(theirs, time.Since(start))
				theirsCPU = append(theirsCPU, cpuTime(unix.RUSAGE_CHILDREN)-cpu)
			}
			mb := float64(len(l.tar)) / 1e6
			o, th := median(ours), median(theirs)
			t.Logf("%s: %.1f MB tar, %.1f MB gzip, median of %d (min):", tc.name, mb, float64(len(l.blob))/1e6, runs)
			t.Logf("  xmgr layers.Apply  %v (%v) = %.0f MB/s, CPU %v", o, minimum(ours), mb/o.Seconds(), median(oursCPU))
			t.Logf("  tar --same-owner -xzf %v (%v) = %.0f MB/s, CPU %v (tar+gzip)", th, minimum(theirs), mb/th.Seconds(), median(theirsCPU))
			t.Logf("  ratio xmgr/tar %.2fx (driver %s)", o.Seconds()/th.Seconds(), snapshots.DriverOverlay)
		})
	}
}

// smallFilesTar is a layer of 10,000 files of 100 B to 4 KiB of text in
// 100 directories.
func smallFilesTar(t *testing.T) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	rnd := mrand.New(mrand.NewSource(1))
	words := []string{"alpha ", "beta ", "gamma ", "delta ", "layer ", "image ", "overlay ", "digest "}
	mt := time.Unix(1600000000, 0)
	for d := 0; d < 100; d++ {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/share/d%03d/", d), Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt})
		for f := 0; f < 100; f++ {
			var body bytes.Buffer
			for n := 100 + rnd.Intn(4000); body.Len() < n; {
				body.WriteString(words[rnd.Intn(len(words))])
			}
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/share/d%03d/f%03d.txt", d, f), Typeflag: tar.TypeReg,
				Mode: 0o644, Size: int64(body.Len()), ModTime: mt})
			tw.Write(body.Bytes())
		}
	}
	tw.Close()
	return b.Bytes()
}

// randomTar is a layer of five 10 MB files of random bytes.
func randomTar(t *testing.T) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	buf := make([]byte, 10<<20)
	for i := 0; i < 5; i++ {
		rand.Read(buf)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/blob%d", i), Typeflag: tar.TypeReg, Mode: 0o644,
			Size: int64(len(buf)), ModTime: time.Unix(1600000000, 0)})
		tw.Write(buf)
	}
	tw.Close()
	return b.Bytes()
}
