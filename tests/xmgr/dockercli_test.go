package xmgr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerCLI runs Docker's own CLI (Debian's 20.10, API 1.41, and any
// newer one installed, which negotiates down to 1.41) against the daemon:
// version, info, pull, images, inspect, history, tag, rmi, save, load.
func TestDockerCLI(t *testing.T) {
	clis := dockerCLIs()
	if len(clis) == 0 {
		t.Skip("no docker CLI installed (apt-get install docker.io)")
	}
	reg := startRegistry(t)
	ref := reg.pushImage(t, "m4/docker:1", "docker")
	e := newDaemon(t)
	for _, bin := range clis {
		t.Run(strings.ReplaceAll(bin, "/", "_"), func(t *testing.T) {
			must := func(args ...string) string {
				t.Helper()
				r := e.docker(bin, args...)
				if r.code != 0 {
					t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
				}
				return r.out
			}
			if out := must("version"); !strings.Contains(out, "Server:") || !strings.Contains(out, "1.41") {
				t.Errorf("docker version:\n%s", out)
			}
			if out := must("info"); !strings.Contains(out, "Docker Root Dir: "+e.data) {
				t.Errorf("docker info:\n%s", out)
			}
			must("pull", ref)
			out := must("images")
			if !strings.Contains(out, reg.host+"/m4/docker") || !strings.HasPrefix(out, "REPOSITORY") {
				t.Errorf("docker images:\n%s", out)
			}
			id := strings.TrimSpace(must("inspect", "--format", "{{.Id}}", ref))
			if !strings.HasPrefix(id, "sha256:") {
				t.Errorf("docker inspect: %q", id)
			}
			if out := must("image", "inspect", "--format", "{{.Config.Cmd}} {{.Os}}", ref); out != "[sh] linux\n" {
				t.Errorf("docker image inspect: %q", out)
			}
			if out := must("history", ref); !strings.Contains(out, "CREATED BY") {
				t.Errorf("docker history:\n%s", out)
			}
			must("tag", ref, "m4-dockercli:x")
			if out := must("images", "-q", "m4-dockercli"); !strings.HasPrefix("sha256:"+strings.TrimSpace(out), id[:19]) {
				t.Errorf("docker images -q after tag: %q (id %s)", out, id)
			}
			tarPath := filepath.Join(t.TempDir(), "s.tar")
			must("save", "-o", tarPath, "m4-dockercli:x")
			if out := must("rmi", "m4-dockercli:x"); !strings.Contains(out, "Untagged: m4-dockercli:x") {
				t.Errorf("docker rmi:\n%s", out)
			}
			must("rmi", ref)
			if out := must("load", "-i", tarPath); !strings.Contains(out, "Loaded image: m4-dockercli:x") {
				t.Errorf("docker load:\n%s", out)
			}
			if out := must("inspect", "-f", "{{.Id}}", "m4-dockercli:x"); strings.TrimSpace(out) != id {
				t.Errorf("loaded id %q, want %s", out, id)
			}
			r := e.docker(bin, "inspect", "m4-nosuch")
			if r.code == 0 || !strings.Contains(r.err, "m4-nosuch") {
				t.Errorf("docker inspect of a missing image:\n%s", r)
			}
			must("rmi", "m4-dockercli:x")
			if f, err := os.Stat(tarPath); err != nil || f.Size() == 0 {
				t.Errorf("saved archive: %v", err)
			}
		})
	}
}
