package xmgr

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildCLIContext writes a small context: a Dockerfile with RUN and COPY,
// and a file that .dockerignore keeps out.
func buildCLIContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo built > /built\nCOPY . /ctx/\n" +
			`CMD ["sh", "-c", "cat /built /ctx/hello.txt; test -e /ctx/ignored.txt && echo LEAKED; true"]` + "\n",
		"hello.txt":     "hello\n",
		"ignored.txt":   "secret\n",
		".dockerignore": "ignored.txt\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runIn runs bin in dir with extra environment and stdin.
func runIn(t *testing.T, dir string, stdin string, env []string, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &o, &e, strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	r := result{out: o.String(), err: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return r
}

var imageIDRe = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// TestBuildDockerCLI builds with Docker's own CLIs against xmgr: Debian's
// 20.10 with DOCKER_BUILDKIT=0, and a 23+ one as it comes (the daemon's
// /_ping says Builder-Version 1), then runs the image with the same CLI.
func TestBuildDockerCLI(t *testing.T) {
	clis := dockerCLIs()
	if len(clis) == 0 {
		t.Skip("no docker CLI installed (apt-get install docker.io)")
	}
	e := newDaemon(t)
	e.ok("load", "-i", fidelityBaseTar(t))
	dir := buildCLIContext(t)
	for i, bin := range clis {
		t.Run(strings.ReplaceAll(bin, "/", "_"), func(t *testing.T) {
			env := []string{"DOCKER_HOST=" + e.host, "DOCKER_CONFIG=" + e.config}
			if bin == "/usr/bin/docker" {
				env = append(env, "DOCKER_BUILDKIT=0")
			}
			tag := "cli-build-" + string(rune('a'+i))
			r := runIn(t, dir, "", env, bin, "build", "-t", tag, ".")
			if r.code != 0 {
				t.Fatalf("docker build: %s", r)
			}
			for _, want := range []string{"Sending build context to Docker daemon", "Step 1/4 : FROM busybox", "Successfully built", "Successfully tagged " + tag + ":latest"} {
				if !strings.Contains(r.out+r.err, want) {
					t.Errorf("docker build output lacks %q:\n%s", want, r.out)
				}
			}
			r = runIn(t, dir, "", env, bin, "run", "--rm", tag)
			if r.code != 0 || r.out != "built\nhello\n" {
				t.Errorf("docker run --rm %s: %s", tag, r)
			}
			// -q: the ID alone, the same image (all cached).
			r = runIn(t, dir, "", env, bin, "build", "-q", "-t", tag, ".")
			if id := strings.TrimSpace(r.out); r.code != 0 || !imageIDRe.MatchString(id) {
				t.Errorf("docker build -q: %s", r)
			}
			// A failing RUN: Docker's message and the command's exit code.
			r = runIn(t, dir, "FROM busybox\nRUN exit 3\n", env, bin, "build", "-")
			if r.code != 3 || !strings.Contains(r.err, "returned a non-zero code: 3") {
				t.Errorf("docker build of a failing RUN: %s", r)
			}
			r = runIn(t, dir, "", env, bin, "builder", "prune", "-af")
			if r.code != 0 || !strings.Contains(r.out, "Total") {
				t.Errorf("docker builder prune: %s", r)
			}
		})
	}
}

// TestBuildXmgrCLI covers the xmgr CLI's own build options.
func TestBuildXmgrCLI(t *testing.T) {
	e := newDaemon(t)
	e.ok("load", "-i", fidelityBaseTar(t))
	dir := buildCLIContext(t)
	env := []string{"XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG=" + e.config}
	xmgr := func(stdin string, args ...string) result {
		t.Helper()
		return runIn(t, dir, stdin, env, xmgrBin, append([]string{"-H", e.host}, args...)...)
	}

	if r := xmgr("", "run", "--rm", "busybox", "sh", "-c", "echo ran"); r.code != 0 || r.out != "ran\n" {
		t.Fatalf("xmgr run of the base image (a precondition): %s", r)
	}

	// Plain build: Docker's lines, with xmgr's name for the daemon.
	r := xmgr("", "build", "-t", "x-plain", ".")
	if r.code != 0 || !strings.Contains(r.out, "Sending build context to xmgr daemon  ") || !strings.Contains(r.out, "Successfully tagged x-plain:latest") {
		t.Fatalf("xmgr build: %s", r)
	}
	if r := xmgr("", "run", "--rm", "x-plain"); r.code != 0 || r.out != "built\nhello\n" {
		t.Errorf("xmgr run of the built image: %s", r)
	}

	// -q prints the ID alone; --iidfile holds the same ID.
	iid := filepath.Join(t.TempDir(), "iid")
	r = xmgr("", "build", "-q", "--iidfile", iid, "-t", "x-quiet", ".")
	id := strings.TrimSpace(r.out)
	if r.code != 0 || !imageIDRe.MatchString(id) || strings.Count(r.out, "\n") != 1 {
		t.Fatalf("xmgr build -q: %s", r)
	}
	if b, err := os.ReadFile(iid); err != nil || string(b) != id {
		t.Errorf("iidfile holds %q (%v), want %s", b, err, id)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.Id}}", "x-quiet")); got != id {
		t.Errorf("x-quiet is %s, the build printed %s", got, id)
	}

	// -f outside the context.
	other := filepath.Join(t.TempDir(), "Other.Dockerfile")
	os.WriteFile(other, []byte("FROM busybox\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n"), 0o644)
	if r := xmgr("", "build", "-f", other, "-t", "x-outside", "."); r.code != 0 {
		t.Fatalf("xmgr build -f outside: %s", r)
	}
	if r := xmgr("", "run", "--rm", "x-outside"); r.out != "hello\n" {
		t.Errorf("run x-outside: %s", r)
	}

	// A Dockerfile on stdin, with and without a directory context.
	if r := xmgr("FROM busybox\nCMD [\"echo\", \"from stdin\"]\n", "build", "-t", "x-stdin", "-"); r.code != 0 {
		t.Fatalf("xmgr build -: %s", r)
	}
	if r := xmgr("", "run", "--rm", "x-stdin"); r.out != "from stdin\n" {
		t.Errorf("run x-stdin: %s", r)
	}
	if r := xmgr("FROM busybox\nCOPY hello.txt /\n", "build", "-q", "-f", "-", "."); r.code != 0 || !imageIDRe.MatchString(strings.TrimSpace(r.out)) {
		t.Errorf("xmgr build -f - .: %s", r)
	}

	// A failing RUN: exit code and Docker's message.
	r = xmgr("FROM busybox\nRUN false\n", "build", "-")
	if r.code != 1 || !strings.HasPrefix(r.err, "xmgr: ") || !strings.Contains(r.err, "The command '/bin/sh -c false' returned a non-zero code: 1") {
		t.Errorf("failing RUN: %s", r)
	}
	// Quiet: the held-back steps go to stderr with the error.
	r = xmgr("FROM busybox\nRUN exit 4\n", "build", "-q", "-")
	if r.code != 4 || r.out != "" || !strings.Contains(r.err, "Step 2/2 : RUN exit 4") {
		t.Errorf("failing quiet build: %s", r)
	}
	if r := xmgr("", "builder", "prune", "-af"); r.code != 0 || !strings.HasPrefix(r.out, "Total reclaimed space:") {
		t.Errorf("builder prune: %s", r)
	}
}
