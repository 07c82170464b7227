package xmgr

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildCacheFrom: `build --cache-from` with an image that came from
// elsewhere. The bench Dockerfile (ENV, three RUNs, COPY, WORKDIR, EXPOSE,
// CMD) is built, saved, removed with the build cache, and loaded back: an
// image without parents or cache entries, as after a pull. Builds with and
// without --cache-from then count their "Using cache" lines and say
// whether the result is the loaded image. Where dockerd 20.10 is
// installed, the same scenario runs against it and every count and
// outcome must be Docker's.
func TestBuildCacheFrom(t *testing.T) {
	x, d := fidelitySides(t)
	df, err := os.ReadFile(filepath.Join(fixtures(t), "bench", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var xr, dr []cacheFromResult
	if x != nil {
		xr = cacheFromScenario(t, x, df)
	}
	if d != nil {
		dr = cacheFromScenario(t, d, df)
	}
	t.Run("stages", func(t *testing.T) { cacheFromStages(t, x, d) })
	var table strings.Builder
	fmt.Fprintf(&table, "%-48s %14s %14s\n", "build (Using cache count, result is the source)", "xmgr", "docker")
	for i, want := range cacheFromWant {
		cell := func(rs []cacheFromResult) string {
			if i >= len(rs) {
				return "-"
			}
			return fmt.Sprintf("%d %v", rs[i].cache, rs[i].isSource)
		}
		fmt.Fprintf(&table, "%-48s %14s %14s\n", want.name, cell(xr), cell(dr))
		if i < len(dr) && (dr[i].cache != want.cache || dr[i].isSource != want.isSource) {
			t.Logf("docker, %s: %d Using cache, result is the source %v; the test expected %d, %v", want.name, dr[i].cache, dr[i].isSource, want.cache, want.isSource)
		}
		if i >= len(xr) {
			continue
		}
		got := xr[i]
		switch {
		case i < len(dr) && (got.cache != dr[i].cache || got.isSource != dr[i].isSource):
			t.Errorf("%s: xmgr used the cache %d times (result is the source: %v), docker %d times (%v)\n%s", want.name, got.cache, got.isSource, dr[i].cache, dr[i].isSource, got.out)
		case d == nil && (got.cache != want.cache || got.isSource != want.isSource):
			t.Errorf("%s: xmgr used the cache %d times (result is the source: %v), docker 20.10 does %d (%v)\n%s", want.name, got.cache, got.isSource, want.cache, want.isSource, got.out)
		}
		if i < len(dr) && got.cmd != dr[i].cmd {
			t.Errorf("%s: the result's Cmd is %s in xmgr, %s in docker", want.name, got.cmd, dr[i].cmd)
		}
		if want.cache == cacheFromSteps && strings.Contains(got.out, "Running in") {
			t.Errorf("%s: every step should come from the cache, a container ran:\n%s", want.name, got.out)
		}
		if want.runs && strings.Count(got.out, "Running in") < 3 {
			t.Errorf("%s: the three RUN steps should run:\n%s", want.name, got.out)
		}
		if want.warn != "" && !strings.Contains(got.out, want.warn) {
			t.Errorf("%s: xmgr's output has no warning %q:\n%s", want.name, want.warn, got.out)
		}
	}
	if n := len(cacheFromWant) - 1; n < len(xr) {
		// Docker's quirk: an image made from a source's history has the
		// step's command as its Cmd.
		t.Logf("the Cmd of the image of a step made from the source's history: %s", xr[n].cmd)
	}
	t.Logf("\n%s", table.String())
}

// cacheFromSteps is the bench Dockerfile's steps after FROM.
const cacheFromSteps = 8

// cacheFromWant is the scenario's builds, in order, with what Docker
// 20.10 does (checked when Docker is missing). Each is tagged
// cachefrom/out; isSource says whether it is the image of the last
// --cache-from (cachefrom/app without one).
var cacheFromWant = []struct {
	name     string
	flags    []string
	cache    int
	isSource bool
	runs     bool   // the RUN steps must run
	warn     string // in xmgr's output
	// editCopied changes the COPY's file first; prefix builds the
	// Dockerfile without its last line, with the original file
	editCopied, prefix bool
}{
	{name: "--cache-from the loaded image", flags: []string{"--cache-from", "cachefrom/app"}, cache: cacheFromSteps, isSource: true},
	// the loaded image is no local cache: Docker's cache needs parents
	{name: "no --cache-from", runs: true},
	// the local cache now has every step, but none is an ancestor of the
	// source: the source decides
	{name: "--cache-from again, local cache not the source's", flags: []string{"--cache-from", "cachefrom/app"}, cache: cacheFromSteps, isSource: true},
	{name: "--cache-from, the copied file changed", flags: []string{"--cache-from", "cachefrom/app"}, cache: 4, editCopied: true},
	// no source resolved: Docker then takes nothing from its local cache
	{name: "--cache-from an image that does not exist", flags: []string{"--cache-from", "cachefrom/missing:1"},
		warn: "Could not look up cachefrom/missing:1 for cache resolution"},
	{name: "no --cache-from, all in the local cache", cache: cacheFromSteps},
	// local hits that are ancestors of the source count
	{name: "--cache-from an image the local cache made", flags: []string{"--cache-from", "cachefrom/local"}, cache: cacheFromSteps, isSource: true},
	// the last step is an image made from the source's history
	{name: "--cache-from, a Dockerfile that stops earlier", flags: []string{"--cache-from", "cachefrom/app"}, cache: cacheFromSteps - 1, prefix: true},
}

type cacheFromResult struct {
	cache    int
	isSource bool
	out      string
	cmd      string // the result's Config.Cmd
}

// cacheFromScenario runs cacheFromWant's builds on one side.
func cacheFromScenario(t *testing.T, s *builderSide, df []byte) []cacheFromResult {
	t.Helper()
	dir, prefixDir := t.TempDir(), t.TempDir()
	big := make([]byte, 256<<10)
	rand.New(rand.NewSource(7)).Read(big)
	lines := strings.Split(strings.TrimSpace(string(df)), "\n")
	for d, files := range map[string]map[string][]byte{
		dir:       {"Dockerfile": df, "big.bin": big},
		prefixDir: {"Dockerfile": []byte(strings.Join(lines[:len(lines)-1], "\n") + "\n"), "big.bin": big},
	} {
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	must := func(args ...string) string { return s.must(t, args...) }
	inspect := func(ref, format string) string {
		t.Helper()
		return strings.TrimSpace(must("inspect", "--type", "image", "--format", format, ref))
	}
	must("build", "-t", "cachefrom/app", dir)
	built := inspect("cachefrom/app", "{{.Id}}")
	archive := filepath.Join(t.TempDir(), "app.tar")
	must("save", "-o", archive, "cachefrom/app")
	must("rmi", "cachefrom/app")
	must("builder", "prune", "-af")
	if r := s.run("image", "inspect", built); r.code == 0 {
		t.Fatalf("%s: the built image is still there after rmi", s.name)
	}
	must("load", "-i", archive)
	if loaded := inspect("cachefrom/app", "{{.Id}}"); loaded != built {
		t.Fatalf("%s: loaded %s, built %s", s.name, loaded, built)
	}

	var out []cacheFromResult
	for _, b := range cacheFromWant {
		if b.editCopied {
			big[0] ^= 0xff
			if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		source := "cachefrom/app"
		if len(b.flags) > 0 {
			source = b.flags[len(b.flags)-1]
		}
		var sourceID string
		if r := s.run("inspect", "--type", "image", "--format", "{{.Id}}", source); r.code == 0 {
			sourceID = strings.TrimSpace(r.out)
		}
		ctx := dir
		if b.prefix {
			ctx = prefixDir
		}
		o := must(append(append([]string{"build", "-t", "cachefrom/out"}, b.flags...), ctx)...)
		out = append(out, cacheFromResult{
			cache:    len(usingCache.FindAllString(o, -1)),
			isSource: inspect("cachefrom/out", "{{.Id}}") == sourceID,
			out:      o,
			cmd:      inspect("cachefrom/out", "{{json .Config.Cmd}}"),
		})
		if b.name == "no --cache-from, all in the local cache" {
			must("tag", "cachefrom/out", "cachefrom/local")
		}
	}
	// Docker's CLI sends --cache-from as the API's cachefrom: the same
	// build through it takes the same steps and gives the same image.
	if _, err := os.Stat("/usr/bin/docker"); err == nil && s.name == "xmgr" {
		dx := dockerSide(t, s.host)
		r := dx.run("build", "-t", "cachefrom/cli", "--cache-from", "cachefrom/app", prefixDir)
		if n := len(usingCache.FindAllString(r.out, -1)); r.code != 0 || n != cacheFromSteps-1 {
			t.Errorf("docker CLI -> xmgr, build --cache-from: %d Using cache, want %d: %s", n, cacheFromSteps-1, r)
		} else if a, b := inspect("cachefrom/cli", "{{.Id}}"), inspect("cachefrom/out", "{{.Id}}"); a != b {
			t.Errorf("docker CLI -> xmgr, build --cache-from made %s, xmgr's CLI %s", a, b)
		}
	}
	// The last result is an image made from the source's history: it
	// saves, and runs with the source's files.
	must("save", "-o", filepath.Join(t.TempDir(), "out.tar"), "cachefrom/out")
	if got := must("run", "--rm", "cachefrom/out", "cat", "/app/list.txt"); got != "one.txt\ntwo.txt\n" {
		t.Errorf("%s: run of the image made from the source's history printed %q", s.name, got)
	}
	return out
}

// cacheFromMultiStage's first stage is source A (built with --target
// one), the whole build source B. Built again with both as sources, the
// first stage's steps come from A, after which Docker tries only A for
// the rest of that stage; the second stage starts over with both and
// takes its steps from B.
const cacheFromMultiStage = `FROM busybox AS one
ENV STAGE=one
RUN echo one > /one.txt
FROM busybox
ENV STAGE=two
COPY --from=one /one.txt /one.txt
CMD ["cat", "/one.txt"]
`

func cacheFromStages(t *testing.T, x, d *builderSide) {
	var counts [2]int
	var isSource [2]bool
	for i, s := range []*builderSide{x, d} {
		if s == nil {
			continue
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(cacheFromMultiStage), 0o644); err != nil {
			t.Fatal(err)
		}
		must := func(args ...string) string { return s.must(t, args...) }
		must("build", "--target", "one", "-t", "cachefrom/a", dir)
		must("build", "-t", "cachefrom/b", dir)
		b := must("inspect", "--type", "image", "--format", "{{.Id}}", "cachefrom/b")
		archive := filepath.Join(t.TempDir(), "ab.tar")
		must("save", "-o", archive, "cachefrom/a", "cachefrom/b")
		must("rmi", "cachefrom/a", "cachefrom/b")
		must("builder", "prune", "-af")
		must("load", "-i", archive)
		out := must("build", "-t", "cachefrom/ab", "--cache-from", "cachefrom/a", "--cache-from", "cachefrom/b", dir)
		counts[i] = len(usingCache.FindAllString(out, -1))
		isSource[i] = must("inspect", "--type", "image", "--format", "{{.Id}}", "cachefrom/ab") == b
		if s == x && (counts[i] != 5 || !isSource[i]) {
			t.Errorf("xmgr: %d steps from the cache (result is B: %v), want 5 and B:\n%s", counts[i], isSource[i], out)
		}
	}
	if x != nil && d != nil && (counts[0] != counts[1] || isSource[0] != isSource[1]) {
		t.Errorf("two stages, two sources: xmgr used the cache %d times (result is B: %v), docker %d (%v)", counts[0], isSource[0], counts[1], isSource[1])
	}
	t.Logf("two stages, two sources: Using cache xmgr %d, docker %d; the result is B: xmgr %v, docker %v", counts[0], counts[1], isSource[0], isSource[1])
}

// must runs the side's CLI and fails the test unless it succeeds; it
// returns the output.
func (s *builderSide) must(t *testing.T, args ...string) string {
	t.Helper()
	r := s.run(args...)
	if r.code != 0 {
		t.Fatalf("%s %s: %s", s.name, strings.Join(args, " "), r)
	}
	return r.out
}
