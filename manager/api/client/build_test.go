package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestBuildQuery(t *testing.T) {
	v := "1"
	tests := []struct {
		name string
		opts types.BuildOptions
		want string // encoded query
	}{
		{name: "zero", opts: types.BuildOptions{}, want: "rm=0"},
		{name: "all", opts: types.BuildOptions{Tags: []string{"a", "b:1"}, Quiet: true, NoCache: true, Pull: true,
			Remove: true, ForceRemove: true, Dockerfile: "sub/D", Target: "t", NetworkMode: "host", Platform: "linux/amd64",
			BuildArgs: map[string]*string{"A": &v, "B": nil}, Labels: map[string]string{"l": "x"}, CacheFrom: []string{"c"}},
			want: "buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&cachefrom=%5B%22c%22%5D&dockerfile=sub%2FD&forcerm=1" +
				"&labels=%7B%22l%22%3A%22x%22%7D&networkmode=host&nocache=1&platform=linux%2Famd64&pull=1&q=1&rm=1&t=a&t=b%3A1&target=t"},
		{name: "resources", opts: types.BuildOptions{Memory: 64 << 20, MemorySwap: -1, CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000,
			CpusetCpus: "0", CpusetMems: "0", CgroupParent: "p", ShmSize: 1 << 20,
			Ulimits: []*types.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}}, ExtraHosts: []string{"a:1.2.3.4", "b:::1"}},
			want: "cgroupparent=p&cpuperiod=100000&cpuquota=50000&cpusetcpus=0&cpusetmems=0&cpushares=512" +
				"&extrahosts=a%3A1.2.3.4&extrahosts=b%3A%3A%3A1&memory=67108864&memswap=-1&rm=0&shmsize=1048576" +
				"&ulimits=%5B%7B%22Name%22%3A%22nofile%22%2C%22Hard%22%3A200%2C%22Soft%22%3A100%7D%5D"},
		{name: "empty ulimits not sent", opts: types.BuildOptions{Ulimits: []*types.Ulimit{}}, want: "rm=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := buildQuery(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Encode(); got != tt.want {
				t.Errorf("query = %s\nwant    %s", got, tt.want)
			}
		})
	}
}

func TestBuildMessages(t *testing.T) {
	tests := []struct {
		name   string
		quiet  bool
		stream string
		id     string
		err    string
	}{
		{name: "aux", stream: `{"stream":"Step 1/1\n"}` + "\n" + `{"aux":{"ID":"sha256:ab"}}` + "\n", id: "sha256:ab"},
		{name: "quiet", quiet: true, stream: `{"stream":"sha256:cd\n"}` + "\n", id: "sha256:cd"},
		{name: "not quiet ignores stream ids", stream: `{"stream":"sha256:cd\n"}` + "\n", id: ""},
		{name: "error", stream: `{"stream":"Step 1/1\n"}` + "\n" + `{"errorDetail":{"code":2,"message":"boom"},"error":"boom"}` + "\n", err: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1.41/build" || r.Header.Get("Content-Type") != "application/x-tar" {
					http.Error(w, `{"message":"bad request"}`, 400)
					return
				}
				b, _ := io.ReadAll(r.Body)
				if string(b) != "ctx" {
					http.Error(w, `{"message":"bad body"}`, 400)
					return
				}
				io.WriteString(w, tt.stream)
			}))
			defer ts.Close()
			c, _ := New("tcp://" + strings.TrimPrefix(ts.URL, "http://"))
			n := 0
			id, err := c.Build(context.Background(), types.BuildOptions{Quiet: tt.quiet}, strings.NewReader("ctx"), func(types.JSONMessage) { n++ })
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || id != tt.id || n == 0 {
				t.Errorf("id %q err %v (%d messages), want %q", id, err, n, tt.id)
			}
		})
	}
}
