package xmgr

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBuildBenchAgainstDocker times `build` of tests/build/bench (FROM the
// local busybox base, ENV, three RUNs, COPY of a 5 MB file, WORKDIR,
// EXPOSE, CMD) through each CLI: xmgr's against xmgr, Debian's docker
// 20.10 (classic builder) against a private dockerd, and docker's against
// xmgr for information. Cold is measured twice: `build --no-cache`, and a
// plain build after `rmi` of the previous result (which takes its
// intermediate images with it); only the loaded base is there in both.
// Cached is a rebuild of an unchanged context after a warm build. Runs alternate between the clients; the table gives
// medians and xmgr/dockerd ratios. It asserts nothing about time and runs
// only with XMGR_BENCH=1 (`make build-bench`).
func TestBuildBenchAgainstDocker(t *testing.T) {
	if os.Getenv("XMGR_BENCH") == "" {
		t.Skip("set XMGR_BENCH=1 to time xmgr build beside docker build")
	}
	if !haveDocker() {
		t.Skip("dockerd or Debian's docker CLI (/usr/bin/docker) is not installed")
	}
	runs := 7
	if v, err := strconv.Atoi(os.Getenv("XMGR_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	restoreIptables(t)
	base := fidelityBaseTar(t)
	xe := newDaemon(t)
	x := xmgrSide(xe)
	d := dockerSide(t, newDockerdBridge(t).host)
	dx := dockerSide(t, xe.host) // docker CLI -> xmgr
	dx.name = "docker CLI -> xmgr"
	for _, s := range []*builderSide{x, d} {
		if r := s.run("load", "-i", base); r.code != 0 {
			t.Fatalf("%s load of the base: %s", s.name, r)
		}
	}
	ctx := t.TempDir()
	df, err := os.ReadFile(filepath.Join(fixtures(t), "bench", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 5<<20)
	rand.New(rand.NewSource(1)).Read(big)
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	clients := []*builderSide{x, dx, d}
	names := []string{"xmgr CLI -> xmgr", "docker CLI -> xmgr", "docker CLI -> dockerd"}
	timeBuild := func(s *builderSide, rmiFirst bool, args ...string) time.Duration {
		if rmiFirst {
			// rmi of the tag also removes its untagged parents (the
			// intermediate images): nothing is left to cache from.
			if r := s.run("rmi", "bench/app:1"); r.code != 0 && !strings.Contains(r.err, "No such image") {
				t.Fatalf("%s rmi: %s", s.name, r)
			}
		}
		t0 := time.Now()
		r := s.run(append(append([]string{"build"}, args...), "-t", "bench/app:1", ctx)...)
		el := time.Since(t0)
		if r.code != 0 {
			t.Fatalf("%s build %v: %s", s.name, args, r)
		}
		if rmiFirst && strings.Contains(r.out, "Using cache") {
			t.Errorf("%s: the build after rmi used the cache:\n%s", s.name, r.out)
		}
		return el
	}
	fmt.Printf("\n%-30s %20s %20s %22s %8s %8s\n", "build (median of "+strconv.Itoa(runs)+")", names[0], names[1], names[2], "ratio", "target")
	for _, sc := range []struct {
		name   string
		rmi    bool
		args   []string
		target float64
	}{
		// rmi first: once --no-cache builds have left chains of untagged
		// images behind, rmi of the tag no longer empties the cache
		{"cold (first build after rmi)", true, nil, 0.6},
		{"cold (--no-cache)", false, []string{"--no-cache"}, 0.6},
		{"cached (unchanged context)", false, nil, 0.3},
	} {
		times := make([][]time.Duration, len(clients))
		for i := 0; i <= runs; i++ {
			for j, c := range clients {
				el := timeBuild(c, sc.rmi, sc.args...)
				if i > 0 { // the first round warms up (and fills the cache)
					times[j] = append(times[j], el)
				}
			}
		}
		m := make([]time.Duration, len(clients))
		for j := range clients {
			m[j] = median(times[j])
		}
		ratio := float64(m[0]) / float64(m[2])
		verdict := "ok"
		if ratio > sc.target {
			verdict = "MISSED"
		}
		fmt.Printf("%-30s %20s %20s %22s %7.2fx %5.1fx %s\n", sc.name, ms(m[0]), ms(m[1]), ms(m[2]), ratio, sc.target, verdict)
	}
	// The image both built runs the same.
	for _, s := range []*builderSide{x, d} {
		if r := s.run("run", "--rm", "bench/app:1"); r.code != 0 || r.out != "one.txt\ntwo.txt\n" {
			t.Errorf("%s run of the bench image: %s", s.name, r)
		}
	}
}
