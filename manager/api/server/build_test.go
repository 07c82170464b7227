package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// fakeBuilder is a test double of BuildBackend: it reads the whole
// context, writes two steps and an aux ID, and fails when told to.
type fakeBuilder struct {
	mu       sync.Mutex
	opts     BuildOptions
	read     int
	early    error // returned before any output
	late     error // returned after the steps
	pruneAll bool
}

func (f *fakeBuilder) Build(_ context.Context, opts BuildOptions, r io.Reader, out io.Writer) (string, error) {
	n, err := io.Copy(io.Discard, r)
	f.mu.Lock()
	f.opts, f.read = opts, int(n)
	early, late := f.early, f.late
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	if early != nil {
		return "", early
	}
	// Written in pieces that split lines, as a real writer may.
	fmt.Fprint(out, `{"stream":"Step 1/2 : FROM busybox\n"}`+"\n"+`{"stream":"Step 2/2 :`)
	fmt.Fprint(out, ` RUN true\n"}`+"\n")
	if late != nil {
		return "", late
	}
	fmt.Fprint(out, `{"aux":{"ID":"sha256:1234"}}`+"\n")
	fmt.Fprint(out, `{"stream":"Successfully built 1234\n"}`+"\n")
	return "sha256:1234", nil
}

func (f *fakeBuilder) BuildCachePrune(_ context.Context, all bool) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneAll = all
	return 2048, nil
}

// runError is a failed RUN as the builder reports it.
type runError struct{ code int }

func (e runError) Error() string {
	return fmt.Sprintf("The command '/bin/sh -c exit %d' returned a non-zero code: %d", e.code, e.code)
}
func (e runError) ExitCode() int { return e.code }

func startBuilder(t *testing.T) (*fakeBuilder, *client.Client, string) {
	t.Helper()
	f := &fakeBuilder{}
	s := New(Config{Builder: f})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Events().Close)
	c, err := client.New("tcp://" + strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return f, c, ts.URL
}

func strp(s string) *string { return &s }

func TestParseBuildOptions(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  BuildOptions
		err   string // substring of the error; "" for none
	}{
		{name: "defaults", query: "", want: BuildOptions{Remove: true}},
		{name: "docker 20.10 CLI",
			query: "t=x&t=y:1&rm=1&forcerm=0&nocache=1&pull=1&q=0&dockerfile=Dockerfile&target=&networkmode=default" +
				"&buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&labels=%7B%22l%22%3A%22v%22%7D&cachefrom=%5B%22c%3A1%22%5D" +
				"&ulimits=null&memory=0&memswap=0&cpushares=0&cpuquota=0&cpuperiod=0&shmsize=0&cpusetcpus=&cpusetmems=&cgroupparent=&version=1",
			want: BuildOptions{Tags: []string{"x", "y:1"}, Remove: true, NoCache: true, Pull: true, Dockerfile: "Dockerfile",
				BuildArgs: map[string]*string{"A": strp("1"), "B": nil}, Labels: map[string]string{"l": "v"}, CacheFrom: []string{"c:1"}}},
		{name: "null maps", query: "buildargs=null&labels=null&cachefrom=null&outputs=null",
			want: BuildOptions{Remove: true}},
		{name: "rm=0", query: "rm=0", want: BuildOptions{}},
		{name: "forcerm implies rm", query: "rm=0&forcerm=1", want: BuildOptions{Remove: true, ForceRemove: true}},
		{name: "quiet and network", query: "q=1&networkmode=host&platform=Linux/AMD64",
			want: BuildOptions{Remove: true, Quiet: true, NetworkMode: "host", Platform: "linux/amd64"}},
		{name: "bad tag", query: "t=Bad:x", err: "invalid reference format"},
		{name: "digest tag", query: "t=a@sha256:" + strings.Repeat("a", 64), err: "cannot contain a digest"},
		{name: "bad buildargs", query: "buildargs=%7B", err: "invalid value for buildargs"},
		{name: "bad memory", query: "memory=lots", err: "invalid value for memory"},
		{name: "remote", query: "remote=https://github.com/a/b.git", err: "remote build contexts"},
		{name: "squash", query: "squash=1", err: "squash is not supported"},
		{name: "outputs", query: `outputs=[{"type":"local"}]`, err: "outputs are not supported"},
		{name: "buildkit", query: "version=2", err: "BuildKit"},
		{name: "resources",
			query: "memory=67108864&memswap=-1&cpushares=512&cpuperiod=100000&cpuquota=50000&shmsize=1048576" +
				"&cpusetcpus=0-1&cpusetmems=0&cgroupparent=p" +
				"&ulimits=%5B%7B%22Name%22%3A%22nofile%22%2C%22Hard%22%3A200%2C%22Soft%22%3A100%7D%2Cnull%5D" +
				"&extrahosts=a:1.2.3.4&extrahosts=&extrahosts=b:::1",
			want: BuildOptions{Remove: true, Memory: 64 << 20, MemorySwap: -1, CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000,
				ShmSize: 1 << 20, CpusetCpus: "0-1", CpusetMems: "0", CgroupParent: "p",
				Ulimits: []*types.Ulimit{{Name: "nofile", Hard: 200, Soft: 100}}, ExtraHosts: []string{"a:1.2.3.4", "b:::1"}}},
		{name: "empty ulimits", query: "ulimits=%5B%5D", want: BuildOptions{Remove: true}},
		{name: "bad memswap", query: "memswap=1g", err: `invalid value for memswap: "1g"`},
		{name: "bad cpushares", query: "cpushares=x", err: "invalid value for cpushares"},
		{name: "bad cpuperiod", query: "cpuperiod=1.5", err: "invalid value for cpuperiod"},
		{name: "bad cpuquota", query: "cpuquota=-", err: "invalid value for cpuquota"},
		{name: "bad shmsize", query: "shmsize=64m", err: "invalid value for shmsize"},
		{name: "bad ulimits", query: "ulimits=nofile", err: "invalid value for ulimits"},
		{name: "ulimits not a list", query: "ulimits=%7B%7D", err: "invalid value for ulimits"},
		{name: "extrahosts without colon", query: "extrahosts=nocolon", err: `invalid IP address in add-host: "nocolon"`},
		{name: "extrahosts bad ip", query: "extrahosts=a:1.2.3", err: "invalid IP address in add-host"},
		{name: "extrahosts no host", query: "extrahosts=:1.2.3.4", err: "invalid IP address in add-host"},
		{name: "isolation", query: "isolation=hyperv", err: "isolation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/build?"+tt.query, nil)
			got, err := parseBuildOptions(r)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want an invalid-argument error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("opts = %+v\nwant   %+v", got, tt.want)
			}
		})
	}
}

func TestBuildStream(t *testing.T) {
	f, c, _ := startBuilder(t)
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 4<<20)
	var lines []string
	opts := types.BuildOptions{Tags: []string{"app:1"}, Remove: true, BuildArgs: map[string]*string{"V": strp("2"), "U": nil},
		Labels: map[string]string{"a": "b"}, Dockerfile: "sub/Dockerfile", Target: "t", NetworkMode: "none", CacheFrom: []string{"x"},
		Memory: 64 << 20, MemorySwap: -1, CPUShares: 2, CPUPeriod: 10000, CPUQuota: 5000, CpusetCpus: "0", CpusetMems: "0",
		CgroupParent: "g", ShmSize: 1 << 20, Ulimits: []*types.Ulimit{{Name: "nproc", Soft: 1, Hard: 2}}, ExtraHosts: []string{"h:10.0.0.1"}}
	id, err := c.Build(ctx, opts, bytes.NewReader(big), func(m types.JSONMessage) {
		if m.Stream != "" {
			lines = append(lines, m.Stream)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != "sha256:1234" {
		t.Errorf("id = %q", id)
	}
	want := []string{"Step 1/2 : FROM busybox\n", "Step 2/2 : RUN true\n", "Successfully built 1234\n"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %q, want %q", lines, want)
	}
	if f.read != len(big) {
		t.Errorf("backend read %d of %d bytes", f.read, len(big))
	}
	if !reflect.DeepEqual(f.opts, opts) {
		t.Errorf("backend got %+v\nwant %+v", f.opts, opts)
	}
}

func TestBuildQuiet(t *testing.T) {
	f, c, _ := startBuilder(t)
	ctx := context.Background()
	var lines []string
	id, err := c.Build(ctx, types.BuildOptions{Quiet: true}, strings.NewReader("FROM busybox\n"), func(m types.JSONMessage) {
		if m.Stream != "" {
			lines = append(lines, m.Stream)
		}
	})
	if err != nil || id != "sha256:1234" {
		t.Fatalf("quiet build: id %q err %v", id, err)
	}
	if !reflect.DeepEqual(lines, []string{"sha256:1234\n"}) {
		t.Errorf("quiet output = %q, want only the ID", lines)
	}
	// A quiet build that fails shows what it held back, then the error.
	f.late = fmt.Errorf("The command '/bin/sh -c false' returned a non-zero code: 1")
	lines = nil
	_, err = c.Build(ctx, types.BuildOptions{Quiet: true}, strings.NewReader("x"), func(m types.JSONMessage) {
		lines = append(lines, m.Stream)
	})
	if err == nil || !strings.Contains(err.Error(), "non-zero code: 1") {
		t.Errorf("err = %v", err)
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "Step 2/2") {
		t.Errorf("failed quiet build output = %q", lines)
	}
}

func TestBuildErrors(t *testing.T) {
	f, c, url := startBuilder(t)
	ctx := context.Background()
	tests := []struct {
		name        string
		early, late error
		query       string
		status      int // of the answer
		msg         string
	}{
		{name: "before output", early: errdefs.Invalid("Cannot locate specified Dockerfile: Dockerfile"), status: 400, msg: "Cannot locate specified Dockerfile"},
		{name: "not found", early: errdefs.NotFound("pull access denied for nosuch"), status: 404, msg: "pull access denied"},
		{name: "mid-stream", late: fmt.Errorf("The command '/bin/sh -c exit 3' returned a non-zero code: 3"), status: 200, msg: "non-zero code: 3"},
		{name: "exit code", late: runError{3}, status: 200, msg: `"code":3`},
		{name: "refused parameter", query: "remote=git://x", status: 400, msg: "remote build contexts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.early, f.late = tt.early, tt.late
			f.mu.Unlock()
			// Raw HTTP, to see the status and the stream as sent.
			resp, err := http.Post(url+"/v1.41/build?"+tt.query, "application/x-tar", strings.NewReader("FROM busybox\n"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.msg) {
				t.Errorf("status %d body %s, want %d with %q", resp.StatusCode, b, tt.status, tt.msg)
			}
			if tt.status == 200 {
				// The error is the stream's last line, in both fields.
				ls := strings.Split(strings.TrimSpace(string(b)), "\n")
				var m types.JSONMessage
				if err := json.Unmarshal([]byte(ls[len(ls)-1]), &m); err != nil || m.Error == nil || m.ErrorMessage != m.Error.Message {
					t.Errorf("last line %s: %v", ls[len(ls)-1], err)
				}
			}
			// And through the client: an error either way.
			_, err = c.Build(ctx, types.BuildOptions{}, strings.NewReader("x"), nil)
			if tt.query == "" && (err == nil || !strings.Contains(string(b), err.Error())) {
				t.Errorf("client error = %v, want the stream's message", err)
			}
		})
	}
}

func TestBuildPruneAndPing(t *testing.T) {
	f, c, url := startBuilder(t)
	rep, err := c.BuildCachePrune(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SpaceReclaimed != 2048 || rep.CachesDeleted == nil || !f.pruneAll {
		t.Errorf("prune = %+v (all %v)", rep, f.pruneAll)
	}
	resp, err := http.Post(url+"/build/prune?filters=%7Bbad", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("bad filters: status %d", resp.StatusCode)
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(m, url+"/_ping", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if v := resp.Header.Get("Builder-Version"); v != "1" {
			t.Errorf("%s /_ping: Builder-Version %q, want 1", m, v)
		}
	}
	// Without a builder, both endpoints answer 501.
	ts := httptest.NewServer(New(Config{}))
	defer ts.Close()
	for _, p := range []string{"/build", "/build/prune"} {
		resp, err := http.Post(ts.URL+p, "application/x-tar", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("%s without a builder: status %d", p, resp.StatusCode)
		}
	}
}
