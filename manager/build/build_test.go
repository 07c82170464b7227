package build

import (
	"fmt"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, dockerfile, want string
	}{
		{"unknown instruction", "FROM busybox\nRUN true\nFOO bar\n", "Dockerfile:3:"},
		{"no instructions", "# nothing\n", "Dockerfile:1: file with no instructions"},
		{"no from", "ARG A=1\n", "needs a FROM"},
		{"instruction before from", "RUN true\nFROM busybox\n", "Dockerfile:1:"},
		{"run mount", "FROM busybox\n\nRUN --mount=type=cache,target=/x true\n", "Dockerfile:3: RUN --mount"},
		{"copy link", "FROM busybox\nCOPY --link a /b\n", "Dockerfile:2: COPY --link"},
		{"onbuild from", "FROM busybox\nONBUILD FROM x\n", "Dockerfile:2:"},
		{"bad healthcheck", "FROM busybox\nHEALTHCHECK --interval=1us CMD true\n", "Dockerfile:2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDockerfile([]byte(tc.dockerfile), "Dockerfile")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTarget(t *testing.T) {
	df, err := parseDockerfile([]byte("FROM busybox AS one\nRUN true\nFROM one AS Two\nFROM busybox\n"), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for target, n := range map[string]int{"": 3, "one": 1, "two": 2, "TWO": 2} {
		s, err := df.upTo(target)
		if err != nil || len(s) != n {
			t.Errorf("target %q: %d stages, %v; want %d", target, len(s), err, n)
		}
	}
	if _, err := df.upTo("three"); err == nil || !strings.Contains(err.Error(), "failed to reach build target three") {
		t.Errorf("unknown target: %v", err)
	}
	if i, ok := stageIndex(df.stages, 2, "1"); !ok || i != 1 {
		t.Errorf("stage by number: %d %v", i, ok)
	}
	if _, ok := stageIndex(df.stages, 1, "1"); ok {
		t.Errorf("a stage not built yet was found")
	}
}

func str(s string) *string { return &s }

func TestBuildArgs(t *testing.T) {
	a := newBuildArgs(map[string]*string{"V": str("given"), "HTTP_PROXY": str("p"), "UNUSED": str("x"), "EMPTY": nil})
	a.addMeta("V", str("meta-default"))
	a.addMeta("G", str("global"))
	if got := strings.Join(a.metaEnv(), ","); got != "G=global,V=given" {
		t.Errorf("meta env %q", got)
	}
	a.resetStage()
	if _, ok := a.value("V"); ok {
		t.Errorf("a global ARG reached the stage without being declared there")
	}
	a.add("V", nil)        // takes --build-arg
	a.add("G", nil)        // takes the global default
	a.add("D", str("def")) // its own default
	a.add("EMPTY", nil)
	got := strings.Join(a.filtered([]string{"D=from-env"}), ",")
	if got != "G=global,HTTP_PROXY=p,V=given" {
		t.Errorf("filtered %q", got)
	}
	if a.inKey("HTTP_PROXY") {
		t.Errorf("an unreferenced proxy arg is part of the cache key")
	}
	if u := a.unused(); len(u) != 1 || u[0] != "UNUSED" {
		t.Errorf("unused %v", u)
	}
}

func TestPrependArgs(t *testing.T) {
	bd := &build{args: newBuildArgs(map[string]*string{"https_proxy": str("p")})}
	bd.args.add("B", str("2"))
	bd.args.add("A", str("1"))
	cmd := bd.prependArgs(bd.args.filtered(nil), []string{"/bin/sh", "-c", "true"})
	if got := strings.Join(cmd, " "); got != "|2 A=1 B=2 /bin/sh -c true" {
		t.Errorf("got %q", got)
	}
}

func TestCacheKey(t *testing.T) {
	base := types.ContainerConfig{Cmd: []string{"/bin/sh", "-c", "true"}, Env: []string{"A=1"}}
	k := cacheKey(&base)
	for name, change := range map[string]func(c *types.ContainerConfig){
		"cmd":     func(c *types.ContainerConfig) { c.Cmd = []string{"/bin/sh", "-c", "false"} },
		"env":     func(c *types.ContainerConfig) { c.Env = []string{"A=2"} },
		"user":    func(c *types.ContainerConfig) { c.User = "nobody" },
		"workdir": func(c *types.ContainerConfig) { c.WorkingDir = "/x" },
		"label":   func(c *types.ContainerConfig) { c.Labels = map[string]string{"a": "b"} },
		"port":    func(c *types.ContainerConfig) { c.ExposedPorts = map[string]struct{}{"80/tcp": {}} },
		"volume":  func(c *types.ContainerConfig) { c.Volumes = map[string]struct{}{"/v": {}} },
		"entry":   func(c *types.ContainerConfig) { c.Entrypoint = []string{"x"} },
	} {
		c := copyRunConfig(&base)
		change(c)
		if cacheKey(c) == k {
			t.Errorf("%s: the key did not change", name)
		}
	}
	// Docker's cache does not compare these: the instruction that set
	// them is in an earlier step's command, hence in the parent's ID.
	c := copyRunConfig(&base)
	c.StopSignal, c.Shell = "SIGKILL", []string{"/bin/bash", "-c"}
	if cacheKey(c) != k {
		t.Errorf("stop signal or shell changed the key")
	}
}

func TestCommentsAsDocker(t *testing.T) {
	rc := &types.ContainerConfig{}
	if got := strings.Join(withComment(rc, "ENV A=1", false).Cmd, " "); got != "/bin/sh -c #(nop)  ENV A=1" {
		t.Errorf("two-word comment %q", got)
	}
	rc.Shell = []string{"/bin/bash", "-xc"}
	if got := strings.Join(withComment(rc, "WORKDIR /a", true).Cmd, " "); got != "/bin/bash -xc #(nop) WORKDIR /a" {
		t.Errorf("one-word comment %q", got)
	}
}

func TestCommandLine(t *testing.T) {
	df, err := parseDockerfile([]byte("FROM busybox\nRUN echo hi\nRUN [\"echo\",\"a b\"]\nRUN <<EOF\necho one\necho two\nEOF\nRUN cat <<EOT > /f\nx\nEOT\nRUN <<PY\n#!/usr/bin/python3\nprint(1)\nPY\nRUN cat <<EOT\n#!/not/a/program\nEOT\n"), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	bd := &build{df: df}
	st := &stage{}
	var got, scripts []string
	for _, c := range df.stages[0].Commands {
		cl := c.(*instructions.RunCommand).ShellDependantCmdLine
		got = append(got, strings.Join(bd.commandLine(st, cl), "|"))
		name, body, ok := shebangScript(cl)
		scripts = append(scripts, fmt.Sprint(ok, name, body))
	}
	want := []string{
		"/bin/sh|-c|echo hi",
		"echo|a b",
		"/bin/sh|-c|echo one\necho two\n",
		"/bin/sh|-c|cat <<EOT > /f\nx\nEOT",
		// What runs is the script's file; the key and history keep the heredoc.
		"/bin/sh|-c|<<PY\n#!/usr/bin/python3\nprint(1)\nPY",
		"/bin/sh|-c|cat <<EOT\n#!/not/a/program\nEOT",
	}
	wantScripts := []string{"false", "false", "false", "false", "truePY#!/usr/bin/python3\nprint(1)\n", "false"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("RUN %d: got %q, want %q", i, got, want[i])
		}
		if i >= len(scripts) || scripts[i] != wantScripts[i] {
			t.Errorf("RUN %d: script %q, want %q", i, scripts, wantScripts[i])
		}
	}
}

func TestFamiliar(t *testing.T) {
	for in, want := range map[string]string{"a": "a:latest", "a:1": "a:1", "localhost:5000/a": "localhost:5000/a:latest", "h:5/a:2": "h:5/a:2"} {
		if got := familiar(in); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}

func TestNormalizeWorkdir(t *testing.T) {
	for _, tc := range [][3]string{{"", "app", "/app"}, {"/a", "b/../c", "/a/c"}, {"/a", "/x/", "/x/"}, {"/a", "..", "/"}} {
		if got := normalizeWorkdir(tc[0], tc[1]); got != tc[2] {
			t.Errorf("%q + %q = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}
