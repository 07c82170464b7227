package xmgr

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchAgainstDocker measures xmgr's daemon beside Docker's (dockerd
// 20.10 from Debian, private to the test) with the same client, Docker's
// CLI: start-up, idle memory, API round trips, pull, a second pull, save
// and load. It prints a table and asserts nothing about time. Run it with
// XMGR_BENCH=1 (it is slow and needs dockerd).
func TestBenchAgainstDocker(t *testing.T) {
	if os.Getenv("XMGR_BENCH") == "" {
		t.Skip("set XMGR_BENCH=1 to measure xmgr beside dockerd")
	}
	dockerBin := "/usr/bin/docker"
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed (apt-get install docker.io)")
	}
	if _, err := os.Stat(dockerBin); err != nil {
		t.Skip("Debian's docker CLI is not installed")
	}
	reg := startRegistry(t)
	ref := reg.pushImage(t, "m4/bench:1", strings.Repeat("bench text ", 100000))

	type target struct {
		name  string
		host  string
		start time.Duration
		pids  func() []int
	}
	t0 := time.Now()
	x := newDaemon(t)
	xs := time.Since(t0)
	t0 = time.Now()
	d := newDockerd(t)
	ds := time.Since(t0)
	targets := []target{
		{"xmgr", x.host, xs, func() []int { return []int{x.cmd.Process.Pid} }},
		{"dockerd", d.host, ds, d.pids},
	}
	rows := map[string][]string{}
	var order []string
	add := func(what string, v string) {
		if _, ok := rows[what]; !ok {
			order = append(order, what)
		}
		rows[what] = append(rows[what], v)
	}
	for _, tg := range targets {
		env := []string{"DOCKER_HOST=" + tg.host, "DOCKER_CONFIG=" + t.TempDir()}
		timed := func(args ...string) time.Duration {
			s := time.Now()
			if r := run(t, nil, env, dockerBin, args...); r.code != 0 {
				t.Fatalf("%s: docker %v: %s", tg.name, args, r)
			}
			return time.Since(s)
		}
		add("start to first /_ping (incl. exec)", ms(tg.start))
		add("idle RSS, daemon (+ its containerd)", rss(tg.pids()))
		for _, ep := range []string{"/_ping", "/v1.41/version", "/v1.41/info", "/v1.41/images/json"} {
			add("GET "+ep+" (median of 200, keep-alive)", ms(roundTrip(t, tg.host, ep, 200)))
		}
		add("docker pull (2 layers, 3.2 MB)", ms(timed("pull", "-q", ref)))
		var again []time.Duration
		for i := 0; i < 5; i++ {
			again = append(again, timed("pull", "-q", ref))
		}
		sort.Slice(again, func(i, j int) bool { return again[i] < again[j] })
		add("docker pull again (held; median of 5)", ms(again[2]))
		add("GET /v1.41/images/{name}/json (median of 200)", ms(roundTrip(t, tg.host, "/v1.41/images/"+ref+"/json", 200)))
		tarPath := filepath.Join(t.TempDir(), "s.tar")
		add("docker save -o", ms(timed("save", "-o", tarPath, ref)))
		timed("rmi", ref)
		add("docker load -i", ms(timed("load", "-q", "-i", tarPath)))
		add("idle RSS after the work", rss(tg.pids()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-48s %12s %12s\n", "", "xmgr", "dockerd")
	for _, k := range order {
		fmt.Fprintf(&b, "%-48s %12s %12s\n", k, rows[k][0], rows[k][1])
	}
	t.Log(b.String())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// rss sums VmRSS of the processes.
func rss(pids []int) string {
	var kb int
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				kb += n
			}
		}
	}
	return fmt.Sprintf("%.1f MB", float64(kb)/1024)
}

// roundTrip is the median time of n GETs on one kept-alive connection.
func roundTrip(t *testing.T, host, path string, n int) time.Duration {
	sock := strings.TrimPrefix(host, "unix://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	var ds []time.Duration
	for i := 0; i < n; i++ {
		s := time.Now()
		resp, err := hc.Get("http://d" + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s on %s: %s", path, host, resp.Status)
		}
		ds = append(ds, time.Since(s))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// dockerd is a private Docker daemon (its own roots, socket and managed
// containerd; no bridge, no iptables changes).
type dockerdEnv struct {
	host string
	cmd  *exec.Cmd
	dir  string
}

func (d *dockerdEnv) pids() []int {
	pids := []int{d.cmd.Process.Pid}
	// The containerd dockerd started for itself.
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", d.cmd.Process.Pid, d.cmd.Process.Pid))
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

func newDockerd(t *testing.T) *dockerdEnv {
	return startDockerd(t, "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false")
}

// startDockerd starts dockerd on private roots and socket with the extra
// flags; it is stopped and its files removed when the test ends.
func startDockerd(t *testing.T, extra ...string) *dockerdEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "xmgr-m4-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerdEnv{dir: dir, host: "unix://" + filepath.Join(dir, "d.sock")}
	logf, _ := os.Create(filepath.Join(dir, "dockerd.log"))
	d.cmd = exec.Command("dockerd", append([]string{"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", d.host, "--pidfile", filepath.Join(dir, "d.pid")}, extra...)...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-waited
		}
		logf.Close()
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	for i := 0; ; i++ {
		if roundTripOK(d.host) {
			return d
		}
		select {
		case <-waited:
			b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("dockerd exited:\n%s", tail(string(b), 3000))
		case <-time.After(10 * time.Millisecond):
		}
		if i > 3000 {
			t.Fatal("dockerd did not answer")
		}
	}
}

func roundTripOK(host string) bool {
	c, err := net.Dial("unix", strings.TrimPrefix(host, "unix://"))
	if err != nil {
		return false
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /_ping HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(c)
	return strings.HasPrefix(string(b), "HTTP/1.0 200") || strings.HasPrefix(string(b), "HTTP/1.1 200")
}
