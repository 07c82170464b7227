package xmgr

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGet fetches url, retrying while the server comes up.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	cl := &http.Client{Timeout: 2 * time.Second}
	var last error
	for i := 0; i < 100; i++ {
		resp, err := cl.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// TestDockerCLIContainers drives containers with Debian's Docker CLI
// against xmgr: run -d -p, ps, logs -f, exec -it (under a pty), inspect,
// stop, rm, network ls, volume ls.
func TestDockerCLIContainers(t *testing.T) {
	bin := "/usr/bin/docker"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("Debian's docker CLI is not installed (apt-get install docker.io)")
	}
	e := newDaemon(t)
	const img = "clients/busybox:1"
	e.ok("import", busyboxTar(t), img)
	must := func(args ...string) string {
		t.Helper()
		r := e.docker(bin, args...)
		if r.code != 0 {
			t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
		}
		return r.out
	}
	port := freePort(t)
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from the container\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(must("run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:8080", port),
		"-v", www+":/www:ro", img, "sh", "-c", "echo started; httpd -f -v -p 8080 -h /www"))
	t.Cleanup(func() { e.docker(bin, "rm", "-f", "web") })
	if len(id) != 64 {
		t.Fatalf("docker run -d printed %q, want a container ID", id)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from the container\n" {
		t.Errorf("published port answered %q", got)
	}
	out := must("ps")
	if !strings.Contains(out, id[:12]) || !strings.Contains(out, "web") || !strings.Contains(out, fmt.Sprintf("0.0.0.0:%d->8080/tcp", port)) {
		t.Errorf("docker ps:\n%s", out)
	}
	if out := must("inspect", "-f", "{{.State.Status}} {{.Config.Image}} {{.HostConfig.PortBindings}}", "web"); !strings.HasPrefix(out, "running "+img) {
		t.Errorf("docker inspect: %q", out)
	}

	// logs -f follows until the container stops.
	logs := exec.Command(bin, "-H", e.host, "logs", "-f", "web")
	pr, pw := io.Pipe()
	logs.Stdout, logs.Stderr = pw, pw
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(pr); got <- string(b) }()

	// exec -it needs a terminal on the client's side: script(1) gives one.
	cmd := fmt.Sprintf("%s -H %s exec -it web sh -c 'echo in-$(hostname); exit 3'", bin, e.host)
	r := run(t, nil, nil, "script", "-qefc", cmd, "/dev/null")
	if r.code != 3 || !strings.Contains(r.out, "in-"+id[:12]) {
		t.Errorf("docker exec -it: %s", r)
	}
	must("stop", "-t", "2", "web")
	logs.Wait()
	pw.Close()
	if l := <-got; !strings.Contains(l, "started") {
		t.Errorf("docker logs -f: %q", l)
	}
	if out := must("ps", "-a", "--filter", "name=web", "--format", "{{.Status}}"); !strings.HasPrefix(out, "Exited") {
		t.Errorf("status after stop: %q", out)
	}
	must("rm", "web")
	if r := e.docker(bin, "inspect", "web"); r.code == 0 {
		t.Errorf("inspect after rm succeeded: %s", r)
	}
	if out := must("network", "ls"); !strings.Contains(out, "bridge") || !strings.Contains(out, "host") || !strings.Contains(out, "none") {
		t.Errorf("docker network ls:\n%s", out)
	}
	must("volume", "create", "clients-vol")
	if out := must("volume", "ls"); !strings.Contains(out, "clients-vol") {
		t.Errorf("docker volume ls:\n%s", out)
	}
	must("volume", "rm", "clients-vol")
}

// TestCompose brings a two-service project up and down with Debian's
// docker-compose: a user network on which the services find each other
// by name, a published port and a named volume.
func TestCompose(t *testing.T) {
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed (apt-get install docker-compose)")
	}
	e := newDaemon(t)
	const img = "clients/busybox:1"
	e.ok("import", busyboxTar(t), img)
	port := freePort(t)
	dir := t.TempDir()
	project := fmt.Sprintf("xc%d", os.Getpid())
	yml := fmt.Sprintf(`version: "3.8"
services:
  web:
    image: %s
    command: ["sh", "-c", "echo served-by-web > /data/index.html && httpd -f -p 8080 -h /data"]
    ports: ["%d:8080"]
    volumes: ["data:/data"]
    networks: [back]
  client:
    image: %s
    command: ["sh", "-c", "while true; do wget -q -O /tmp/got http://web:8080/ && cat /tmp/got; sleep 1; done"]
    networks: [back]
    depends_on: [web]
networks:
  back: {}
volumes:
  data: {}
`, img, port, img)
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	dc := func(args ...string) result {
		t.Helper()
		c := exec.Command(compose, append([]string{"-p", project, "-f", filepath.Join(dir, "docker-compose.yml")}, args...)...)
		c.Env = append(os.Environ(), "DOCKER_HOST="+e.host, "COMPOSE_INTERACTIVE_NO_CLI=1")
		var o, er strings.Builder
		c.Stdout, c.Stderr = &o, &er
		err := c.Run()
		res := result{out: o.String(), err: er.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			res.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Cleanup(func() { dc("down", "-v", "--timeout", "1") })
	if r := dc("up", "-d"); r.code != 0 {
		t.Fatalf("docker-compose up -d: %s", r)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "served-by-web\n" {
		t.Errorf("web's published port answered %q", got)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := dc("logs", "--no-color", "client")
		if strings.Contains(r.out, "served-by-web") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client never reached web by name: %s", r)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if r := dc("ps"); r.code != 0 || strings.Count(r.out, "Up") != 2 {
		t.Errorf("docker-compose ps: %s", r)
	}
	if r := dc("down", "-v", "--timeout", "1"); r.code != 0 {
		t.Fatalf("docker-compose down: %s", r)
	}
	if out := e.ok("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left after down: %q", out)
	}
	if out := e.ok("network", "ls", "--format", "{{.Name}}"); strings.Contains(out, project) {
		t.Errorf("network left after down:\n%s", out)
	}
	if out := e.ok("volume", "ls", "-q"); strings.Contains(out, project) {
		t.Errorf("volume left after down -v:\n%s", out)
	}
}

// TestRunPortInUse: `xmgr run -p` on a port a host process holds fails
// with Docker's message and exit 125, and leaves no container, rule or
// interface behind.
func TestRunPortInUse(t *testing.T) {
	e := newDaemon(t)
	const img = "clients/busybox:1"
	e.ok("import", busyboxTar(t), img)
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	rulesBefore := natRules(t)
	r := e.xmgr("run", "-d", "--name", "busy", "-p", fmt.Sprintf("%d:80", port), img, "httpd", "-f")
	if r.code != 125 || !strings.Contains(r.err, "port is already allocated") {
		t.Fatalf("run on a busy port: %s", r)
	}
	if out := e.ok("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("the half-made container is still there: %q", out)
	}
	if after := natRules(t); after != rulesBefore {
		t.Errorf("nat rules changed:\nbefore:\n%s\nafter:\n%s", rulesBefore, after)
	}
	// (The bridge itself appears with the first container on it.)
	if out, err := exec.Command("ip", "-o", "link", "show", "master", e.bridge).Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		t.Errorf("interfaces left on %s:\n%s", e.bridge, out)
	}
	// The name is free again.
	e.ok("run", "-d", "--name", "busy", img, "sleep", "60")
	e.ok("rm", "-f", "busy")
}

// natRules are xmgr's per-container DNAT rules now.
func natRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save", "-t", "nat").Output()
	if err != nil {
		t.Skipf("iptables-save: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "xmgr-ep:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
