package xmgr

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// rawGet makes a request on the daemon's socket without the client, to
// see exactly what the daemon answers.
func (e *env) raw(method, path string) (int, http.Header, string) {
	e.t.Helper()
	sock := strings.TrimPrefix(e.host, "unix://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest(method, "http://xmgr"+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAPIEdges(t *testing.T) {
	e := newDaemon(t)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/_ping", 200, "OK"},
		{"HEAD", "/_ping", 200, ""},
		{"GET", "/v1.41/version", 200, `"ApiVersion":"1.41"`},
		{"GET", "/v1.24/images/json", 200, "[]"},
		{"GET", "/v1.99/version", 400, `{"message":"client version 1.99 is too new. Maximum supported API version is 1.41"}`},
		{"GET", "/v1.41/swarm", 404, `{"message":"page not found"}`},
		{"GET", "/v1.41/images/m4-nosuch/json", 404, `{"message":"No such image: m4-nosuch`},
		{"GET", "/info", 200, `"OSType":"linux"`},
	}
	for _, tt := range tests {
		status, h, body := e.raw(tt.method, tt.path)
		if status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, status, body, tt.status, tt.body)
		}
		if h.Get("Api-Version") != "1.41" {
			t.Errorf("%s %s: Api-Version %q", tt.method, tt.path, h.Get("Api-Version"))
		}
	}
	fi, err := os.Stat(strings.TrimPrefix(e.host, "unix://"))
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(e.ok("version", "--format", "{{json .Server}}")), &v); err != nil || v["MinAPIVersion"] != "1.24" {
		t.Errorf("version --format: %v %v", v, err)
	}
	if out := e.ok("info"); !regexp.MustCompile(`(?m)^ Docker Root Dir: ` + regexp.QuoteMeta(e.data) + `$`).MatchString(out) {
		t.Errorf("info:\n%s", out)
	}
}

// TestOneDaemonPerRoot: a second daemon on the same roots is refused and
// names the first one's pid; after a kill -9 the next start works.
func TestOneDaemonPerRoot(t *testing.T) {
	e := newDaemon(t)
	r := run(t, nil, nil, xmgrBin, "daemon", "--host", "unix://"+filepath.Join(e.dir, "second.sock"),
		"--data-root", e.data, "--exec-root", e.exec)
	if r.code == 0 || !strings.Contains(r.err, "locked by another xmgr daemon (pid "+strconv.Itoa(e.cmd.Process.Pid)+")") {
		t.Errorf("second daemon:\n%s", r)
	}
	// Another exec root, same data root: still refused.
	r = run(t, nil, nil, xmgrBin, "daemon", "--host", "unix://"+filepath.Join(e.dir, "third.sock"),
		"--data-root", e.data, "--exec-root", filepath.Join(e.dir, "exec2"))
	if r.code == 0 || !strings.Contains(r.err, "xmgr.lock is locked") {
		t.Errorf("second daemon on the same data root:\n%s", r)
	}
	e.kill()
	e.start()
	e.ok("images")
	e.stop()
	if _, err := os.Stat(strings.TrimPrefix(e.host, "unix://")); err == nil {
		t.Error("the socket is still there after a graceful stop")
	}
}

// TestAutoStart: with no daemon on the default socket, the CLI starts one
// and says so. XMGR_EXEC_ROOT/XMGR_DATA_ROOT keep it off /run/xmgr.
func TestAutoStart(t *testing.T) {
	dir := t.TempDir()
	execRoot, dataRoot := filepath.Join(dir, "exec"), filepath.Join(dir, "data")
	env := []string{"XMGR_EXEC_ROOT=" + execRoot, "XMGR_DATA_ROOT=" + dataRoot, "XMGR_HOST=", "DOCKER_HOST=", "XMGR_NO_AUTOSTART="}
	r := run(t, nil, env, xmgrBin, "images")
	m := regexp.MustCompile(`xmgr: started the daemon \(pid (\d+)\)`).FindStringSubmatch(r.err)
	if m != nil {
		pid, _ := strconv.Atoi(m[1])
		t.Cleanup(func() {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 1000 && syscall.Kill(pid, 0) == nil; i++ {
				syscall.Select(0, nil, nil, nil, &syscall.Timeval{Usec: 10000})
			}
		})
	}
	if r.code != 0 || m == nil || !strings.HasPrefix(r.out, "REPOSITORY") {
		t.Fatalf("auto-start:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(execRoot, "xmgr.log")); err != nil {
		t.Errorf("daemon log: %v", err)
	}
	// The second command finds the running daemon and says nothing.
	r = run(t, nil, env, xmgrBin, "images", "-q")
	if r.code != 0 || r.err != "" {
		t.Errorf("second command:\n%s", r)
	}
}

// TestNativeDriver: --storage-driver native (Docker's vfs) stores and
// reports its layers as such.
func TestNativeDriver(t *testing.T) {
	reg := startRegistry(t)
	ref := reg.pushImage(t, "m4/native:1", "native")
	e := newDaemon(t, "--storage-driver", "native")
	e.ok("pull", "-q", ref)
	if got := e.ok("inspect", "-f", "{{.GraphDriver.Name}}", ref); got != "native\n" {
		t.Errorf("GraphDriver.Name = %q", got)
	}
	if got := e.ok("info", "-f", "{{.Driver}}"); got != "native\n" {
		t.Errorf("info Driver = %q", got)
	}
	if _, err := os.Stat(filepath.Join(e.data, "snapshots", "native")); err != nil {
		t.Errorf("native snapshots dir: %v", err)
	}
}

// TestAutoStartRace: several clients find no daemon at once; one daemon
// wins the locks, every client gets its answer, and only the winner's
// client says it started the daemon.
func TestAutoStartRace(t *testing.T) {
	dir := t.TempDir()
	env := []string{"XMGR_EXEC_ROOT=" + filepath.Join(dir, "exec"), "XMGR_DATA_ROOT=" + filepath.Join(dir, "data"), "XMGR_HOST=", "DOCKER_HOST=", "XMGR_NO_AUTOSTART="}
	const n = 4
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() { results <- run(t, nil, env, xmgrBin, "version", "--format", "{{.Server.APIVersion}}") }()
	}
	re := regexp.MustCompile(`xmgr: started the daemon \(pid (\d+)\)`)
	var started []int
	var all []result
	for i := 0; i < n; i++ {
		r := <-results
		all = append(all, r)
		if m := re.FindStringSubmatch(r.err); m != nil {
			pid, _ := strconv.Atoi(m[1])
			started = append(started, pid)
		}
	}
	t.Cleanup(func() {
		b, err := os.ReadFile(filepath.Join(dir, "exec", "xmgr.pid"))
		if err != nil {
			return
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 1000 && syscall.Kill(pid, 0) == nil; i++ {
			syscall.Select(0, nil, nil, nil, &syscall.Timeval{Usec: 10000})
		}
	})
	for _, r := range all {
		if r.code != 0 || r.out != "1.41\n" {
			t.Errorf("a racing client failed:\n%s", r)
		}
	}
	if len(started) != 1 {
		t.Errorf("%d clients said they started the daemon, want 1: %v", len(started), started)
	}
}
