package server

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerCLIs are the docker CLIs the API must satisfy: Debian's (20.10)
// and a current one (28.x), which negotiates down to our 1.41.
var dockerCLIs = []struct{ name, path string }{
	{"debian-20.10", "/usr/bin/docker"},
	{"current", "/usr/local/bin/docker"},
}

// dockerCLI serves the fakes on a unix socket and returns a function
// that runs the real docker CLI against it.
func dockerCLI(t *testing.T, binary string) (*fakeBackend, func(stdin string, args ...string) (stdout, stderr string, err error)) {
	t.Helper()
	if _, err := os.Stat(binary); err != nil {
		t.Skipf("no docker CLI: %v", err)
	}
	f := newFakeBackend()
	s := New(Config{Images: newFake(), Containers: f, Networks: f, Volumes: f})
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(s.Events().Close)
	cfgDir := t.TempDir()
	return f, func(stdin string, args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, append([]string{"-H", "unix://" + sock}, args...)...)
		cmd.Env = []string{"DOCKER_CONFIG=" + cfgDir, "PATH=/usr/bin:/bin", "HOME=" + cfgDir}
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
}

// TestDockerCLI runs Debian's docker CLI against the server: the shapes
// of its answers must be ones the real client accepts.
func TestDockerCLI(t *testing.T) {
	for _, cli := range dockerCLIs {
		t.Run(cli.name, func(t *testing.T) { testDockerCLI(t, cli.path) })
	}
}

func testDockerCLI(t *testing.T, binary string) {
	f, docker := dockerCLI(t, binary)
	f.script(func() {
		f.logs = []LogMessage{
			{Stream: "stdout", Line: []byte("one\n"), Time: time.Unix(1700000000, 0)},
			{Stream: "stderr", Line: []byte("two\n"), Time: time.Unix(1700000001, 0)},
		}
	})
	f.script(func() { f.exitOnStart = true })
	for _, tt := range []struct {
		stdin       string
		args        []string
		out, errOut string // contained in stdout, stderr
		fails       bool
	}{
		{"", []string{"ps"}, "web", "", false},
		{"", []string{"ps", "-a", "--format", "{{.Names}} {{.State}} {{.Mounts}}"}, "web running data", "", false},
		{"", []string{"inspect", "--format", "{{.Id}} {{.State.Status}}", "web"}, "c1 running", "", false},
		{"", []string{"logs", "web"}, "one\n", "two\n", false},
		{"", []string{"logs", "-t", "--tail", "1", "web"}, "2023-11-14T22:13:20.000000000Z one", "", false},
		{"", []string{"logs", "nosuch"}, "", "No such container: nosuch", true},
		{"", []string{"network", "ls"}, "bridge", "", false},
		{"", []string{"network", "create", "front"}, "n2", "", false},
		{"", []string{"volume", "ls"}, "data", "", false},
		{"", []string{"volume", "create", "v1"}, "v1", "", false},
		{"", []string{"volume", "rm", "data"}, "", "volume is in use", true},
		{"", []string{"run", "-d", "--name", "fresh", "busybox", "true"}, "c9", "", false},
		{"", []string{"run", "--name", "fresh2", "busybox", "echo"}, "started\n", "", false},
		{"", []string{"exec", "web", "ls"}, "ran ls", "", false},
		{"abc\n", []string{"exec", "-i", "web", "cat"}, "ABC\n", "bye\n", false},
		{"", []string{"stop", "-t", "3", "web"}, "web", "", false},
		{"", []string{"kill", "-s", "HUP", "term"}, "term", "", false},
		{"", []string{"rm", "-f", "term"}, "term", "", false},
		{"", []string{"system", "df"}, "Local Volumes", "", false},
		{"", []string{"stats", "--no-stream", "web"}, "web", "", false},
	} {
		out, errOut, err := docker(tt.stdin, tt.args...)
		if (err != nil) != tt.fails || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.errOut) {
			t.Errorf("docker %s: err %v\nstdout %q\nstderr %q\nwant stdout with %q, stderr with %q, failure %v",
				strings.Join(tt.args, " "), err, out, errOut, tt.out, tt.errOut, tt.fails)
		}
	}
	for _, want := range []string{"stop web t=3", "kill term signal=HUP", "remove term force=true v=false", "start c9"} {
		found := false
		for _, c := range f.called() {
			found = found || c == want
		}
		if !found {
			t.Errorf("no backend call %q in %q", want, f.called())
		}
	}
}
