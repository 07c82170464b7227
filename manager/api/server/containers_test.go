package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// startContainers serves the fake container, network and volume backends
// (and the image fake, for system df).
func startContainers(t *testing.T) (*fakeBackend, string) {
	t.Helper()
	f := newFakeBackend()
	s := New(Config{Images: newFake(), Containers: f, Networks: f, Volumes: f})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Events().Close)
	return f, ts.URL
}

// call sends a request and returns the status and body.
func call(t *testing.T, method, url, body string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func TestContainerRoutes(t *testing.T) {
	f, url := startContainers(t)
	tests := []struct {
		method, path, body string
		status             int
		want               string // in the body
		call               string // recorded by the backend
	}{
		{"POST", "/v1.41/containers/create?name=new", `{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}`, 201, `{"Id":"c9","Warnings":[]}`, "create new busybox"},
		{"POST", "/containers/create?name=web", `{"Image":"busybox"}`, 409, `already in use`, "create web busybox"},
		{"POST", "/containers/create", `{"Image":"nosuch"}`, 404, `{"message":"No such image: nosuch:latest"}`, ""},
		{"POST", "/containers/create", ``, 400, `config cannot be empty`, ""},
		{"POST", "/containers/create", `{"Image":`, 400, `bad JSON body`, ""},
		{"GET", "/containers/web/json?size=1", ``, 200, `"Id":"c1"`, "inspect web size=true"},
		{"GET", "/containers/nosuch/json", ``, 404, `No such container: nosuch`, ""},
		{"POST", "/containers/c3/start", ``, 204, ``, "start c3"},
		{"POST", "/containers/c1/start", ``, 304, ``, "start c1"},
		{"POST", "/containers/nosuch/start", ``, 404, `No such container`, ""},
		{"POST", "/containers/web/stop?t=5", ``, 204, ``, "stop web t=5"},
		{"POST", "/containers/web/stop", ``, 304, ``, "stop web t=nil"},
		{"POST", "/containers/web/stop?t=soon", ``, 400, `invalid value for t: \"soon\" is not an integer`, ""},
		{"POST", "/containers/web/restart?t=0", ``, 204, ``, "restart web t=0"},
		{"POST", "/containers/term/kill?signal=SIGHUP", ``, 204, ``, "kill term signal=SIGHUP"},
		{"POST", "/containers/term/kill", ``, 204, ``, "kill term signal="},
		{"POST", "/containers/paused/kill", ``, 409, `is not running`, ""},
		{"POST", "/containers/term/pause", ``, 204, ``, "pause term"},
		{"POST", "/containers/term/unpause", ``, 204, ``, "unpause term"},
		{"POST", "/containers/web/rename?name=www", ``, 204, ``, "rename web www"},
		{"POST", "/containers/web/rename", ``, 400, `new name`, ""},
		{"POST", "/containers/web/update", `{"Memory":1048576,"RestartPolicy":{"Name":"always"}}`, 200, `{"Warnings":[]}`, "update web memory=1048576 restart=always"},
		{"POST", "/containers/web/resize?h=24&w=80", ``, 200, ``, "resize web 24x80"},
		{"POST", "/containers/web/resize?h=x&w=80", ``, 400, `invalid value for h`, ""},
		{"POST", "/containers/web/wait?condition=sometime", ``, 400, `invalid condition`, ""},
		{"POST", "/containers/nosuch/wait", ``, 404, `No such container`, ""},
		{"DELETE", "/containers/term", ``, 409, `cannot remove a running container`, "remove term force=false v=false"},
		{"DELETE", "/containers/term?force=1&v=true", ``, 204, ``, "remove term force=true v=true"},
		{"DELETE", "/containers/term?link=1", ``, 400, `link`, ""},
		{"GET", "/containers/web/top?ps_args=aux", ``, 200, `"Titles":["PID","CMD"]`, "top web ps_args=aux"},
		{"GET", "/containers/web/changes", ``, 200, `[]`, ""},
		{"GET", "/containers/web/export", ``, 200, `export-of-web`, ""},
		{"GET", "/containers/nosuch/export", ``, 404, `No such container`, ""},
		{"POST", "/containers/prune?filters=" + `{"until":{"24h":true}}`, ``, 200, `{"ContainersDeleted":[],"SpaceReclaimed":3}`, ""},
		{"POST", "/containers/prune?filters=" + `{"dangling":{"true":true}}`, ``, 400, `invalid filter 'dangling'`, ""},
		{"GET", "/containers/json?filters=" + `{"colour":{"red":true}}`, ``, 400, `invalid filter 'colour'`, ""},
		{"GET", "/containers/json?limit=x", ``, 400, `invalid value for limit`, ""},
		{"POST", "/containers/web/exec", `{"Cmd":["ls"],"AttachStdout":true}`, 201, `{"Id":"e9"}`, "exec-create web ls"},
		{"POST", "/containers/web/exec", `{"Cmd":[]}`, 400, `No exec command specified`, ""},
		{"GET", "/exec/e1/json", ``, 200, `"ID":"e1"`, ""},
		{"GET", "/exec/nosuch/json", ``, 404, `No such exec instance: nosuch`, ""},
		{"POST", "/exec/nosuch/start", `{"Detach":false}`, 404, `No such exec instance: nosuch`, ""},
		{"POST", "/exec/e1/start", `{"Detach":true}`, 200, ``, "exec-start e1 detach=true stdin=false stdout=false stderr=false"},
		{"POST", "/exec/e2/resize?h=10&w=20", ``, 200, ``, "exec-resize e2 10x20"},
		{"POST", "/exec/nosuch/resize?h=10&w=20", ``, 404, `No such exec`, ""},
		{"POST", "/commit?container=web&repo=me/img&tag=1&comment=hi&changes=CMD+ls&changes=ENV+A%3D1", `{"Env":["B=2"]}`, 201, `{"Id":"sha256:cccc"}`, ""},
		{"POST", "/commit?container=nosuch", ``, 404, `No such container`, ""},
		{"POST", "/commit", ``, 400, `container parameter`, ""},
		{"GET", "/containers/web/nonsense", ``, 404, `page not found`, ""},
		{"PUT", "/containers/web/json", ``, 404, `page not found`, ""},
		{"GET", "/containers/", ``, 404, `page not found`, ""},
	}
	for _, tt := range tests {
		n := len(f.called())
		status, body, _ := call(t, tt.method, url+tt.path, tt.body)
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tt.method, tt.path, status, tt.status, body)
		}
		if tt.want != "" && !strings.Contains(string(body), tt.want) {
			t.Errorf("%s %s: body %q, want it to contain %q", tt.method, tt.path, body, tt.want)
		}
		if (status == 204 || status == 304) && len(body) != 0 {
			t.Errorf("%s %s: %d with a body %q", tt.method, tt.path, status, body)
		}
		if tt.call != "" && !slices.Contains(f.called()[n:], tt.call) {
			t.Errorf("%s %s: backend calls %q, want %q", tt.method, tt.path, f.called()[n:], tt.call)
		}
	}
	if c := f.lastCommit; c.Repo != "me/img" || c.Tag != "1" || c.Comment != "hi" || !c.Pause ||
		!slices.Equal(c.Changes, []string{"CMD ls", "ENV A=1"}) || c.Config == nil || c.Config.Env[0] != "B=2" {
		t.Errorf("commit options %+v", c)
	}
	if f.lastCreate.HostConfig == nil || f.lastCreate.HostConfig.NetworkMode != "none" {
		t.Errorf("create request lost its HostConfig: %+v", f.lastCreate)
	}
}

func TestContainerListQuery(t *testing.T) {
	f, url := startContainers(t)
	status, body, _ := call(t, "GET", url+`/containers/json?all=1&limit=3&size=true&filters={"status":{"exited":true},"name":{"we":true}}`, "")
	if status != 200 {
		t.Fatalf("list: %d %s", status, body)
	}
	var list []types.ContainerSummary
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 || list[0].Names[0] != "/web" {
		t.Fatalf("list body %s (%v)", body, err)
	}
	o := f.lastList
	if !o.All || o.Limit != 3 || !o.Size || !o.Filters["status"]["exited"] || !o.Filters["name"]["we"] {
		t.Errorf("list options %+v", o)
	}
	call(t, "GET", url+"/containers/json?limit=-1", "")
	if o := f.lastList; o.All || o.Limit != 0 || o.Size {
		t.Errorf("defaults: %+v", o)
	}
}

// TestWaitHeaderFirst: the 200 header must arrive while the container
// still runs (docker run starts the container only after it), the body
// when it exits.
func TestWaitHeaderFirst(t *testing.T) {
	f, url := startContainers(t)
	// Let the handler finish even when the test fails early.
	t.Cleanup(func() {
		select {
		case f.waitCh <- types.ContainerWaitResponse{}:
		default:
		}
	})
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(url+"/containers/web/wait?condition=next-exit", "", nil)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- resp
	}()
	var resp *http.Response
	select {
	case resp = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no wait header while the container runs")
	}
	if resp == nil {
		t.FailNow()
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("wait: %s %v", resp.Status, resp.Header)
	}
	if !slices.Contains(f.called(), "wait web condition=next-exit") {
		t.Errorf("calls %q", f.called())
	}
	f.waitCh <- types.ContainerWaitResponse{StatusCode: 3}
	var w types.ContainerWaitResponse
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil || w.StatusCode != 3 || w.Error != nil {
		t.Errorf("wait body: %+v %v", w, err)
	}
}

func TestStats(t *testing.T) {
	_, url := startContainers(t)
	status, body, _ := call(t, "GET", url+"/containers/web/stats?stream=false", "")
	if status != 200 || bytes.Count(body, []byte("\n")) != 1 || !strings.Contains(string(body), `"num_procs":1`) {
		t.Errorf("one sample: %d %s", status, body)
	}
	status, body, _ = call(t, "GET", url+"/containers/web/stats", "")
	dec := json.NewDecoder(bytes.NewReader(body))
	n := 0
	for {
		var st types.StatsJSON
		if err := dec.Decode(&st); err != nil {
			break
		}
		n++
		if st.NumProcs != uint32(n) {
			t.Errorf("sample %d: %+v", n, st)
		}
	}
	if status != 200 || n != 3 {
		t.Errorf("stream: %d, %d samples: %s", status, n, body)
	}
	if status, body, _ = call(t, "GET", url+"/containers/web/stats?one-shot=1", ""); status != 400 {
		t.Errorf("stream and one-shot: %d %s", status, body)
	}
	if status, _, _ = call(t, "GET", url+"/containers/web/stats?stream=0&one-shot=1", ""); status != 200 {
		t.Errorf("one-shot: %d", status)
	}
	if status, body, _ = call(t, "GET", url+"/containers/nosuch/stats", ""); status != 404 {
		t.Errorf("unknown container: %d %s", status, body)
	}
}

func TestArchive(t *testing.T) {
	f, url := startContainers(t)
	for _, method := range []string{"HEAD", "GET"} {
		status, body, h := call(t, method, url+"/containers/web/archive?path=/etc", "")
		if status != 200 {
			t.Fatalf("%s archive: %d %s", method, status, body)
		}
		var st types.ContainerPathStat
		if err := decodePathStat(h.Get("X-Docker-Container-Path-Stat"), &st); err != nil || st.Name != "etc" || st.Mode != fakeStat.Mode || !st.Mtime.Equal(fakeStat.Mtime) {
			t.Errorf("%s archive stat header %q: %+v %v", method, h.Get("X-Docker-Container-Path-Stat"), st, err)
		}
		if method == "GET" && (string(body) != "tar-of-etc" || h.Get("Content-Type") != "application/x-tar") {
			t.Errorf("GET archive: %q %v", body, h)
		}
	}
	if status, _, _ := call(t, "HEAD", url+"/containers/web/archive?path=/nope", ""); status != 404 {
		t.Errorf("HEAD missing path: %d", status)
	}
	if status, body, _ := call(t, "GET", url+"/containers/web/archive", ""); status != 400 || !strings.Contains(string(body), "'path' cannot be empty") {
		t.Errorf("GET without path: %d %s", status, body)
	}
	status, body, _ := call(t, "PUT", url+"/containers/web/archive?path=/tmp&noOverwriteDirNonDir=1&copyUIDGID=true", "TARBYTES")
	if status != 200 || f.lastExtract != "TARBYTES" || !slices.Contains(f.called(), "extract web /tmp noOverwriteDirNonDir=true copyUIDGID=true") {
		t.Errorf("PUT archive: %d %s, %q %q", status, body, f.lastExtract, f.called())
	}
}

func decodePathStat(h string, st *types.ContainerPathStat) error {
	b, err := base64Std(h)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, st)
}

func TestNoContainerBackends(t *testing.T) {
	s := New(Config{})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	for _, p := range []struct{ method, path string }{
		{"GET", "/containers/json"}, {"POST", "/containers/create"}, {"GET", "/containers/x/logs?stdout=1"},
		{"POST", "/containers/x/attach"}, {"POST", "/exec/x/start"}, {"POST", "/commit?container=x"},
		{"GET", "/networks"}, {"DELETE", "/networks/x"}, {"GET", "/volumes"}, {"POST", "/volumes/create"},
	} {
		status, body, _ := call(t, p.method, ts.URL+p.path, "")
		if status != 501 || !strings.Contains(string(body), "not implemented") {
			t.Errorf("%s %s without a backend: %d %s", p.method, p.path, status, body)
		}
	}
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
