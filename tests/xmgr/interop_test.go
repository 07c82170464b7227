package xmgr

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerdInterop: an image `docker save`d by a real dockerd loads into
// xmgr with the same ID, and what xmgr saves loads back into dockerd.
func TestDockerdInterop(t *testing.T) {
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed (apt-get install docker.io)")
	}
	clis := dockerCLIs()
	if len(clis) == 0 {
		t.Skip("no docker CLI installed")
	}
	docker := clis[0]
	reg := startRegistry(t)
	ref := reg.pushImage(t, "m4/interop:1", "interop")
	x := newDaemon(t)
	d := newDockerd(t)
	denv := []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + t.TempDir()}
	mustD := func(args ...string) string {
		t.Helper()
		r := run(t, nil, denv, docker, args...)
		if r.code != 0 {
			t.Fatalf("dockerd: docker %v: %s", args, r)
		}
		return r.out
	}
	mustD("pull", "-q", ref)
	id := strings.TrimSpace(mustD("inspect", "-f", "{{.Id}}", ref))
	fromDocker := filepath.Join(t.TempDir(), "from-docker.tar")
	mustD("save", "-o", fromDocker, ref)

	if out := x.ok("load", "-i", fromDocker); !strings.Contains(out, "Loaded image: "+ref) {
		t.Errorf("xmgr load of docker's archive:\n%s", out)
	}
	if got := strings.TrimSpace(x.ok("inspect", "-f", "{{.Id}}", ref)); got != id {
		t.Errorf("id in xmgr %s, in dockerd %s", got, id)
	}
	x.ok("tag", ref, "m4-interop:back")
	fromXmgr := filepath.Join(t.TempDir(), "from-xmgr.tar")
	x.ok("save", "-o", fromXmgr, "m4-interop:back")
	mustD("rmi", ref)
	if out := mustD("load", "-i", fromXmgr); !strings.Contains(out, "m4-interop:back") {
		t.Errorf("dockerd load of xmgr's archive:\n%s", out)
	}
	if got := strings.TrimSpace(mustD("inspect", "-f", "{{.Id}}", "m4-interop:back")); got != id {
		t.Errorf("id back in dockerd %s, want %s", got, id)
	}
}
