package server

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

const composeBinary = "/usr/bin/docker-compose"

// TestDockerCompose runs Debian's docker-compose (1.29, docker-py)
// against the server: up -d creates the project's network and container
// and starts it, ps lists it.
func TestDockerCompose(t *testing.T) {
	if _, err := os.Stat(composeBinary); err != nil {
		t.Skipf("no docker-compose: %v", err)
	}
	f := newFakeBackend()
	imgs := newFake()
	imgs.images["busybox"] = &types.ImageInspect{ID: "sha256:aaaa", RepoTags: []string{"busybox:latest"}}
	s := New(Config{Images: imgs, Containers: f, Networks: f, Volumes: f, System: fakeSystem{}})
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(s.Events().Close)
	compose := "services:\n  web:\n    image: busybox\n    command: sleep 100\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, composeBinary, append([]string{"-p", "proj"}, args...)...)
		cmd.Dir = dir
		cmd.Env = []string{"DOCKER_HOST=unix://" + sock, "HOME=" + dir, "PATH=/usr/bin:/bin"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("docker-compose %v: %v\n%s\ncalls %q", args, err, out.String(), f.called())
		}
		return out.String()
	}
	f.script(func() {
		f.logs = []LogMessage{{Stream: "stdout", Line: []byte("hello from web\n"), Time: time.Unix(1700000000, 0)}}
	})
	if out := run("up", "-d"); !strings.Contains(out, "Creating proj_web_1 ... done") {
		t.Errorf("up: %s", out)
	}
	if out := run("ps"); !strings.Contains(out, "proj_web_1") {
		t.Errorf("ps: %s", out)
	}
	if out := run("logs", "--no-color"); !strings.Contains(out, "hello from web") {
		t.Errorf("logs: %s", out)
	}
	if out := run("down"); !strings.Contains(out, "Removing proj_web_1 ... done") {
		t.Errorf("down: %s", out)
	}
	for _, want := range []string{"network-create proj_default ", "create proj_web_1 busybox", "network-connect proj_default c9 aliases=c9,web",
		"start c9", "stop c9 t=10", "remove c9 force=false v=false", "network-remove proj_default"} {
		if !slices.Contains(f.called(), want) {
			t.Errorf("no backend call %q in %q", want, f.called())
		}
	}
}

// fakeSystem answers /version and /info.
type fakeSystem struct{}

func (fakeSystem) SystemVersion(context.Context) types.Version {
	return types.Version{Version: "20.10.0", APIVersion: types.APIVersion, MinAPIVersion: types.MinAPIVersion, Os: "linux", Arch: "amd64"}
}

func (fakeSystem) SystemInfo(context.Context) (*types.Info, error) {
	return &types.Info{ID: "x", Name: "test", OSType: "linux", Driver: "overlay2"}, nil
}
