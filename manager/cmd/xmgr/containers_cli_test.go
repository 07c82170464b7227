package main

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"
)

// fakeRequest is what the fake daemon saw.
type fakeRequest struct {
	Method, Path, Query string
	Body                map[string]any
}

// fakeDaemon answers "METHOD /path" (version prefix removed) from
// answers: "status body"; anything else is a 404 "No such ..." as the
// daemon words it.
type fakeDaemon struct {
	mu   sync.Mutex
	seen []fakeRequest
	srv  *httptest.Server
}

func newFakeDaemon(t *testing.T, answers map[string]string) *fakeDaemon {
	d := &fakeDaemon{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.41")
			return
		}
		p := r.URL.Path
		if i := strings.Index(p[1:], "/"); strings.HasPrefix(p, "/v1.") && i > 0 {
			p = p[i+1:]
		}
		fr := fakeRequest{Method: r.Method, Path: p, Query: r.URL.RawQuery}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			_ = json.Unmarshal(b, &fr.Body)
		}
		d.mu.Lock()
		d.seen = append(d.seen, fr)
		d.mu.Unlock()
		a, ok := answers[r.Method+" "+p]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, `{"message":"No such object: `+p+`"}`)
			return
		}
		status, body, _ := strings.Cut(a, " ")
		code := map[string]int{"200": 200, "201": 201, "204": 204, "304": 304, "400": 400, "404": 404, "409": 409}[status]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDaemon) requests() []fakeRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]fakeRequest(nil), d.seen...)
}

// runCLI runs the xmgr command line against the fake daemon and returns
// its standard output and the exit code main would give.
func runCLI(t *testing.T, d *fakeDaemon, args ...string) (string, int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	app := newApp()
	restoreInspect(app.Commands)
	argv := append([]string{"xmgr", "-H", d.srv.URL}, args...)
	runErr := app.Run(interspersed(app, argv))
	os.Stdout = saved
	w.Close()
	stdout := <-out
	r.Close()
	code, msg := 0, ""
	if runErr != nil {
		// report's exit code, without its printing.
		saved := os.Stderr
		devnull, _ := os.Open(os.DevNull)
		os.Stderr = devnull
		code = report(runErr)
		os.Stderr = saved
		devnull.Close()
		msg = runErr.Error()
	}
	return stdout, code, msg
}

// restoreInspect undoes TestInterspersedParse's replacement of the
// actions of the package-level inspect command (and its image inspect
// copy), which newApp reuses.
func restoreInspect(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.Name == "inspect" && c.Flags != nil && len(c.Flags) == 3 {
			c.Action = runInspect
		}
		restoreInspect(c.Subcommands)
	}
}

func TestMultiNameCommands(t *testing.T) {
	d := newFakeDaemon(t, map[string]string{
		"DELETE /containers/a":    "204 ",
		"DELETE /containers/c":    "409 " + `{"message":"cannot remove container \"/c\": container is running"}`,
		"POST /containers/a/stop": "204 ",
		"POST /containers/b/stop": "304 ",
		"POST /containers/a/kill": "204 ",
	})
	out, code, msg := runCLI(t, d, "rm", "a", "b", "c", "-v")
	if out != "a\n" || code != 1 ||
		msg != "Error: No such container: b\nxmgr: Error response from daemon: cannot remove container \"/c\": container is running" {
		t.Errorf("rm: out %q code %d msg %q", out, code, msg)
	}
	if q := d.requests()[0].Query; q != "v=1" {
		t.Errorf("rm -v sent %q", q)
	}

	out, code, _ = runCLI(t, d, "stop", "-t", "3", "a", "b")
	if out != "a\nb\n" || code != 0 {
		t.Errorf("stop: out %q code %d", out, code)
	}
	reqs := d.requests()
	if got := reqs[len(reqs)-2].Query; got != "t=3" {
		t.Errorf("stop -t 3 sent %q", got)
	}
	runCLI(t, d, "container", "stop", "a")
	reqs = d.requests()
	if got := reqs[len(reqs)-1]; got.Path != "/containers/a/stop" || got.Query != "" {
		t.Errorf("container stop without -t sent %+v", got)
	}

	runCLI(t, d, "kill", "-s", "HUP", "a")
	reqs = d.requests()
	if got := reqs[len(reqs)-1]; got.Query != "signal=HUP" {
		t.Errorf("kill -s HUP sent %+v", got)
	}

	if _, code, msg := runCLI(t, d, "stop"); code != 125 || !strings.Contains(msg, `"stop" requires at least 1 argument`) {
		t.Errorf("stop without names: code %d msg %q", code, msg)
	}
}

func TestPsCommand(t *testing.T) {
	d := newFakeDaemon(t, map[string]string{
		"GET /containers/json": "200 " + `[{"Id":"0123456789abcdef","Names":["/web"],"Image":"busybox","Command":"top","Created":1,"State":"running","Status":"Up 1 second","Ports":[]}]`,
	})
	out, code, _ := runCLI(t, d, "ps", "-a", "--filter", "status=running", "--format", "{{.ID}} {{.Names}} {{.Status}}")
	if out != "0123456789ab web Up 1 second\n" || code != 0 {
		t.Errorf("ps: %q %d", out, code)
	}
	q := d.requests()[0].Query
	if !strings.Contains(q, "all=1") || !strings.Contains(q, "filters=%7B%22status%22%3A%7B%22running%22%3Atrue%7D%7D") {
		t.Errorf("ps sent %q", q)
	}
	out, _, _ = runCLI(t, d, "container", "ls", "-q", "--no-trunc", "-n", "3")
	if out != "0123456789abcdef\n" || !strings.Contains(d.requests()[1].Query, "limit=3") {
		t.Errorf("container ls -q --no-trunc -n 3: %q %+v", out, d.requests()[1])
	}
	if _, _, msg := runCLI(t, d, "ps", "--filter", "nonsense"); !strings.Contains(msg, "bad format of filter") {
		t.Errorf("ps with a bad filter: %q", msg)
	}
}

func TestUpdateCommand(t *testing.T) {
	d := newFakeDaemon(t, map[string]string{"POST /containers/a/update": `200 {"Warnings":[]}`})
	if _, code, msg := runCLI(t, d, "update", "a"); code != 1 || !strings.Contains(msg, "you must provide one or more flags") {
		t.Errorf("update without flags: %d %q", code, msg)
	}
	out, code, msg := runCLI(t, d, "update", "--memory", "64m", "--cpus", "1.5", "--pids-limit", "50", "--restart", "on-failure:3", "a")
	if out != "a\n" || code != 0 {
		t.Fatalf("update: %q %d %q", out, code, msg)
	}
	b := d.requests()[0].Body
	if b["Memory"] != float64(64<<20) || b["NanoCpus"] != 1.5e9 || b["PidsLimit"] != float64(50) ||
		b["RestartPolicy"].(map[string]any)["Name"] != "on-failure" || b["RestartPolicy"].(map[string]any)["MaximumRetryCount"] != float64(3) {
		t.Errorf("update sent %v", b)
	}
	if _, code, _ := runCLI(t, d, "update", "--restart", "always:3", "a"); code != 125 {
		t.Errorf("update with a bad policy: code %d", code)
	}
	if _, code, _ := runCLI(t, d, "update", "--memory", "lots", "a"); code != 125 {
		t.Errorf("update with a bad size: code %d", code)
	}
}

func TestInspectResolution(t *testing.T) {
	d := newFakeDaemon(t, map[string]string{
		"GET /networks/n1": `200 {"Name":"n1","Id":"abc"}`,
		"GET /volumes/n1":  `200 {"Name":"n1","Driver":"local"}`,
	})
	// Container, then image, then network: the network answers first.
	out, code, _ := runCLI(t, d, "inspect", "--format", "{{.Id}}", "n1")
	if out != "abc\n" || code != 0 {
		t.Errorf("inspect n1: %q %d", out, code)
	}
	var paths []string
	for _, r := range d.requests() {
		paths = append(paths, r.Path)
	}
	if got := strings.Join(paths, " "); got != "/containers/n1/json /images/n1/json /networks/n1" {
		t.Errorf("inspect looked up %s", got)
	}
	out, _, _ = runCLI(t, d, "inspect", "--type", "volume", "-f", "{{.Driver}}", "n1")
	if out != "local\n" {
		t.Errorf("inspect --type volume: %q", out)
	}
	out, code, msg := runCLI(t, d, "inspect", "nope", "n1")
	if code != 1 || msg != "Error: No such object: nope" || !strings.Contains(out, `"Name": "n1"`) || !strings.HasPrefix(out, "[\n    {") {
		t.Errorf("inspect nope n1: %q %d %q", out, code, msg)
	}
	if _, _, msg := runCLI(t, d, "container", "inspect", "n1"); msg != "Error: No such container: n1" {
		t.Errorf("container inspect of a network: %q", msg)
	}
	if _, _, msg := runCLI(t, d, "image", "inspect", "n1"); msg != "Error: No such image: n1" {
		t.Errorf("image inspect of a network: %q", msg)
	}
	if _, code, _ := runCLI(t, d, "inspect", "--type", "secret", "n1"); code != 125 {
		t.Errorf("inspect --type secret: code %d", code)
	}
}

func TestNetworkVolumeCommands(t *testing.T) {
	d := newFakeDaemon(t, map[string]string{
		"POST /networks/create":    `201 {"Id":"0123456789abcdef"}`,
		"GET /networks":            `200 [{"Name":"zeta","Id":"ffffffffffffffff","Driver":"bridge","Scope":"local"},{"Name":"bridge","Id":"eeeeeeeeeeeeeeee","Driver":"bridge","Scope":"local"}]`,
		"POST /networks/n/connect": "200 ",
		"POST /volumes/create":     `201 {"Name":"v1","Driver":"local"}`,
		"GET /volumes":             `200 {"Volumes":[{"Name":"v2","Driver":"local"},{"Name":"v1","Driver":"local"}]}`,
		"POST /volumes/prune":      `200 {"VolumesDeleted":["v1"],"SpaceReclaimed":2048}`,
	})
	out, _, msg := runCLI(t, d, "network", "create", "--subnet", "10.5.0.0/24", "--gateway", "10.5.0.1", "--internal", "-o", "mtu=1400", "n")
	if out != "0123456789abcdef\n" {
		t.Fatalf("network create: %q %q", out, msg)
	}
	b := d.requests()[0].Body
	ipam := b["IPAM"].(map[string]any)["Config"].([]any)[0].(map[string]any)
	if b["Name"] != "n" || b["Internal"] != true || ipam["Subnet"] != "10.5.0.0/24" || ipam["Gateway"] != "10.5.0.1" {
		t.Errorf("network create sent %v", b)
	}
	out, _, _ = runCLI(t, d, "network", "ls")
	want := "NETWORK ID     NAME      DRIVER    SCOPE\neeeeeeeeeeee   bridge    bridge    local\nffffffffffff   zeta      bridge    local\n"
	if out != want {
		t.Errorf("network ls:\n%s\nwant\n%s", out, want)
	}
	runCLI(t, d, "network", "connect", "--alias", "db", "--ip", "10.5.0.9", "n", "web")
	reqs := d.requests()
	c := reqs[len(reqs)-1].Body
	if c["Container"] != "web" || c["EndpointConfig"].(map[string]any)["IPAMConfig"].(map[string]any)["IPv4Address"] != "10.5.0.9" {
		t.Errorf("network connect sent %v", c)
	}
	if _, code, _ := runCLI(t, d, "network", "create", "--gateway", "10.5.0.1", "n"); code != 1 {
		t.Errorf("a gateway without a subnet: code %d", code)
	}

	if out, _, _ := runCLI(t, d, "volume", "create", "--label", "a=b", "v1"); out != "v1\n" {
		t.Errorf("volume create: %q", out)
	}
	if _, code, _ := runCLI(t, d, "volume", "create", "--name", "x", "y"); code != 1 {
		t.Errorf("volume create --name x y: code %d", code)
	}
	if out, _, _ := runCLI(t, d, "volume", "ls", "-q"); out != "v1\nv2\n" {
		t.Errorf("volume ls -q: %q", out)
	}
	if out, _, _ := runCLI(t, d, "volume", "prune", "-f"); out != "Deleted Volumes:\nv1\n\nTotal reclaimed space: 2.048kB\n" {
		t.Errorf("volume prune: %q", out)
	}
}

func TestStatsNoStream(t *testing.T) {
	sample := `{"id":"0123456789abcdef","name":"/web","pids_stats":{"current":3},` +
		`"cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":1},` +
		`"precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000,"online_cpus":1},` +
		`"memory_stats":{"usage":1048576,"limit":4194304}}`
	d := newFakeDaemon(t, map[string]string{"GET /containers/web/stats": "200 " + sample})
	out, code, msg := runCLI(t, d, "stats", "--no-stream", "--format", "{{.Container}} {{.Name}} {{.ID}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.PIDs}}", "web")
	if want := "web web 0123456789ab 20.00% 1MiB / 4MiB 25.00% 3\n"; out != want || code != 0 {
		t.Errorf("stats --no-stream: %q %d %q, want %q", out, code, msg, want)
	}
	// A name given twice is one stream, one line.
	out, _, _ = runCLI(t, d, "stats", "--no-stream", "--format", "{{.Name}}", "web", "web")
	if out != "web\n" {
		t.Errorf("stats web web: %q", out)
	}
	if q := d.requests()[0].Query; q != "stream=0" {
		t.Errorf("stats --no-stream sent %q", q)
	}
	if _, code, msg := runCLI(t, d, "stats", "--no-stream", "web", "nope"); code != 1 || !strings.Contains(msg, "Error response from daemon: No such object") {
		t.Errorf("stats of a missing container: %d %q", code, msg)
	}
}

func TestCpFromContainer(t *testing.T) {
	// The daemon's archive of /etc: entries named from "etc", or from "."
	// for "/etc/." (Docker names them "./motd"...).
	archiveOf := func(top string) []byte {
		var tb bytes.Buffer
		tw := tar.NewWriter(&tb)
		for _, e := range []struct{ name, body string }{{"/", ""}, {"/motd", "hello\n"}, {"/sub/", ""}, {"/sub/x", "x"}} {
			h := &tar.Header{Name: top + e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg,
				Uid: os.Getuid(), Gid: os.Getgid()}
			if strings.HasSuffix(e.name, "/") {
				h.Mode, h.Typeflag = 0o755, tar.TypeDir
			}
			tw.WriteHeader(h)
			io.WriteString(tw, e.body)
		}
		tw.Close()
		return tb.Bytes()
	}
	stat := base64.StdEncoding.EncodeToString([]byte(`{"name":"etc","mode":2147484141}`)) // a directory, 0755
	d := newFakeDaemon(t, nil)
	d.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			return
		}
		p := r.URL.Query().Get("path")
		if !strings.HasSuffix(r.URL.Path, "/containers/web/archive") || p == "" {
			w.WriteHeader(404)
			io.WriteString(w, `{"message":"No such container: x"}`)
			return
		}
		w.Header().Set("X-Docker-Container-Path-Stat", stat)
		if strings.HasSuffix(p, "/.") {
			w.Write(archiveOf("."))
		} else {
			w.Write(archiveOf("etc"))
		}
	})
	dir := t.TempDir()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return err.Error()
		}
		return string(b)
	}
	// A new destination gets the directory under its own name.
	if _, code, msg := runCLI(t, d, "cp", "web:/etc", filepath.Join(dir, "conf")); code != 0 {
		t.Fatalf("cp to a new name: %d %q", code, msg)
	}
	if read("conf/motd") != "hello\n" || read("conf/sub/x") != "x" {
		t.Errorf("cp to a new name: %q %q", read("conf/motd"), read("conf/sub/x"))
	}
	// An existing directory gets it under its own name; with "/." its contents.
	runCLI(t, d, "cp", "web:/etc", dir)
	if read("etc/motd") != "hello\n" {
		t.Errorf("cp into a directory: %q", read("etc/motd"))
	}
	runCLI(t, d, "cp", "web:/etc/.", dir)
	if read("motd") != "hello\n" || read("sub/x") != "x" {
		t.Errorf("cp of the contents: %q %q", read("motd"), read("sub/x"))
	}
	if _, code, msg := runCLI(t, d, "cp", "other:/etc", dir); code != 1 || msg != "Error: No such container:path: other:/etc" {
		t.Errorf("cp from a missing container: %d %q", code, msg)
	}
}
