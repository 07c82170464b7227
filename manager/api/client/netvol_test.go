package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// call is what the fake daemon saw of one request.
type call struct {
	method, path, query string
	body                map[string]any
}

// fakeDaemon answers every request with status and body, recording it.
func fakeDaemon(t *testing.T, status int, answer string) (*Client, *[]call) {
	t.Helper()
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := call{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &c.body); err != nil {
				t.Errorf("%s %s: body is not JSON: %q", r.Method, r.URL.Path, b)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, ct)
			}
		}
		calls = append(calls, c)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	cl, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return cl, &calls
}

func TestNetworkCalls(t *testing.T) {
	ctx := context.Background()
	f := types.NewFilters()
	f.Add("driver", "bridge")

	cl, calls := fakeDaemon(t, 200, `[{"Name":"bridge","Id":"abc","Driver":"bridge"}]`)
	list, err := cl.NetworkList(ctx, f)
	if err != nil || len(list) != 1 || list[0].ID != "abc" {
		t.Fatalf("NetworkList = %+v, %v", list, err)
	}
	want := call{method: "GET", path: "/v1.41/networks", query: "filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%7D"}
	if got := (*calls)[0]; got.method != want.method || got.path != want.path || got.query != want.query {
		t.Errorf("NetworkList sent %+v, want %+v", got, want)
	}

	cl, calls = fakeDaemon(t, 200, `{"Name":"n1","Id":"123","Extra":1}`)
	n, raw, err := cl.NetworkInspect(ctx, "n1")
	if err != nil || n.ID != "123" || string(raw) != `{"Name":"n1","Id":"123","Extra":1}` {
		t.Errorf("NetworkInspect = %+v %s %v", n, raw, err)
	}
	if got := (*calls)[0]; got.path != "/v1.41/networks/n1" {
		t.Errorf("NetworkInspect path %q", got.path)
	}

	cl, calls = fakeDaemon(t, 201, `{"Id":"999","Warning":""}`)
	resp, err := cl.NetworkCreate(ctx, types.NetworkCreateRequest{Name: "n2", Driver: "bridge", Internal: true,
		IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: "10.9.0.0/24"}}}})
	if err != nil || resp.ID != "999" {
		t.Errorf("NetworkCreate = %+v, %v", resp, err)
	}
	if got := (*calls)[0]; got.method != "POST" || got.path != "/v1.41/networks/create" ||
		got.body["Name"] != "n2" || got.body["Internal"] != true {
		t.Errorf("NetworkCreate sent %+v", got)
	}

	cl, calls = fakeDaemon(t, 200, ``)
	if err := cl.NetworkConnect(ctx, "n2", "web", &types.EndpointSettings{Aliases: []string{"db"}}); err != nil {
		t.Error(err)
	}
	if err := cl.NetworkDisconnect(ctx, "n2", "web", true); err != nil {
		t.Error(err)
	}
	c0, c1 := (*calls)[0], (*calls)[1]
	if c0.path != "/v1.41/networks/n2/connect" || c0.body["Container"] != "web" ||
		c0.body["EndpointConfig"].(map[string]any)["Aliases"].([]any)[0] != "db" {
		t.Errorf("NetworkConnect sent %+v", c0)
	}
	if c1.path != "/v1.41/networks/n2/disconnect" || c1.body["Force"] != true {
		t.Errorf("NetworkDisconnect sent %+v", c1)
	}

	cl, calls = fakeDaemon(t, 204, ``)
	if err := cl.NetworkRemove(ctx, "n2"); err != nil || (*calls)[0].method != "DELETE" {
		t.Errorf("NetworkRemove: %v %+v", err, *calls)
	}

	cl, _ = fakeDaemon(t, 200, `{"NetworksDeleted":["a","b"]}`)
	rep, err := cl.NetworksPrune(ctx, nil)
	if err != nil || len(rep.NetworksDeleted) != 2 {
		t.Errorf("NetworksPrune = %+v, %v", rep, err)
	}
}

func TestVolumeCalls(t *testing.T) {
	ctx := context.Background()
	cl, calls := fakeDaemon(t, 200, `{"Volumes":[{"Name":"v1","Driver":"local"}],"Warnings":null}`)
	list, err := cl.VolumeList(ctx, nil)
	if err != nil || len(list.Volumes) != 1 || list.Volumes[0].Name != "v1" {
		t.Fatalf("VolumeList = %+v, %v", list, err)
	}
	if got := (*calls)[0]; got.path != "/v1.41/volumes" || got.query != "" {
		t.Errorf("VolumeList sent %+v", got)
	}

	cl, calls = fakeDaemon(t, 201, `{"Name":"v2","Driver":"local","Mountpoint":"/x"}`)
	v, err := cl.VolumeCreate(ctx, types.VolumeCreateRequest{Name: "v2", Labels: map[string]string{"a": "b"}})
	if err != nil || v.Mountpoint != "/x" {
		t.Errorf("VolumeCreate = %+v, %v", v, err)
	}
	if got := (*calls)[0]; got.path != "/v1.41/volumes/create" || got.body["Labels"].(map[string]any)["a"] != "b" {
		t.Errorf("VolumeCreate sent %+v", got)
	}

	cl, calls = fakeDaemon(t, 204, ``)
	if err := cl.VolumeRemove(ctx, "v2", true); err != nil {
		t.Error(err)
	}
	if got := (*calls)[0]; got.method != "DELETE" || got.path != "/v1.41/volumes/v2" || got.query != "force=1" {
		t.Errorf("VolumeRemove sent %+v", got)
	}

	cl, _ = fakeDaemon(t, 200, `{"VolumesDeleted":["v2"],"SpaceReclaimed":4096}`)
	rep, err := cl.VolumesPrune(ctx, nil)
	if err != nil || rep.SpaceReclaimed != 4096 {
		t.Errorf("VolumesPrune = %+v, %v", rep, err)
	}
}

func TestNetVolErrors(t *testing.T) {
	ctx := context.Background()
	cl, _ := fakeDaemon(t, 404, `{"message":"get nope: no such volume"}`)
	if _, _, err := cl.VolumeInspect(ctx, "nope"); !errdefs.IsNotFound(err) || err.Error() != "get nope: no such volume" {
		t.Errorf("VolumeInspect of a missing volume: %v", err)
	}
	cl, _ = fakeDaemon(t, 409, `{"message":"network n has active endpoints"}`)
	if err := cl.NetworkRemove(ctx, "n"); !errdefs.IsConflict(err) {
		t.Errorf("NetworkRemove in use: %v", err)
	}
	cl, _ = fakeDaemon(t, 200, `{"Name":`)
	if _, _, err := cl.NetworkInspect(ctx, "n"); err == nil {
		t.Error("a truncated answer passed")
	}
}
