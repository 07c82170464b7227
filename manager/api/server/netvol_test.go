package server

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestNetworkAndVolumeRoutes(t *testing.T) {
	f, url := startContainers(t)
	tests := []struct {
		method, path, body string
		status             int
		want               string
		call               string
	}{
		{"GET", "/v1.41/networks", ``, 200, `"Name":"bridge"`, ""},
		{"GET", `/networks?filters={"driver":{"bridge":true}}`, ``, 200, `"Id":"n1"`, ""},
		{"GET", `/networks?filters={"colour":{"x":true}}`, ``, 400, `invalid filter 'colour'`, ""},
		{"GET", "/networks/bridge", ``, 200, `"Driver":"bridge"`, ""},
		{"GET", "/networks/nosuch", ``, 404, `network nosuch not found`, ""},
		{"POST", "/networks/create", `{"Name":"front","Driver":"bridge","CheckDuplicate":true}`, 201, `"Id":"n2"`, "network-create front bridge"},
		{"POST", "/networks/create", `{"Name":"bridge"}`, 409, `already exists`, ""},
		{"POST", "/networks/create", `{"Driver":"bridge"}`, 400, `needs a name`, ""},
		{"DELETE", "/networks/front", ``, 204, ``, "network-remove front"},
		{"DELETE", "/networks/bridge", ``, 409, `pre-defined`, ""},
		{"POST", "/networks/front/connect", `{"Container":"web","EndpointConfig":{"Aliases":["w"]}}`, 200, ``, "network-connect front web aliases=w"},
		{"POST", "/networks/front/connect", `{}`, 400, `container must be given`, ""},
		{"POST", "/networks/front/disconnect", `{"Container":"web","Force":true}`, 200, ``, "network-disconnect front web force=true"},
		{"POST", "/networks/prune", ``, 200, `{"NetworksDeleted":[]}`, ""},
		{"PUT", "/networks/front", ``, 404, `page not found`, ""},
		{"GET", "/volumes", ``, 200, `{"Volumes":[{`, ""},
		{"GET", `/volumes?filters={"dangling":{"true":true}}`, ``, 200, `"Warnings":[]`, ""},
		{"GET", `/volumes?filters={"colour":{"x":true}}`, ``, 400, `invalid filter`, ""},
		{"POST", "/volumes/create", `{"Name":"v1","Driver":"local","Labels":{"a":"b"}}`, 201, `"Labels":{"a":"b"}`, "volume-create v1 local"},
		{"POST", "/volumes/create", `{"Name":`, 400, `bad JSON body`, ""},
		{"GET", "/volumes/data", ``, 200, `"Name":"data"`, ""},
		{"GET", "/volumes/nosuch", ``, 404, `no such volume`, ""},
		{"DELETE", "/volumes/data", ``, 409, `volume is in use`, "volume-remove data force=false"},
		{"DELETE", "/volumes/data?force=1", ``, 204, ``, "volume-remove data force=true"},
		{"POST", "/volumes/prune", ``, 200, `{"VolumesDeleted":["old"],"SpaceReclaimed":10}`, ""},
		{"GET", "/volumes/data/extra", ``, 404, `page not found`, ""},
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
		if tt.call != "" && !slices.Contains(f.called()[n:], tt.call) {
			t.Errorf("%s %s: backend calls %q, want %q", tt.method, tt.path, f.called()[n:], tt.call)
		}
	}
}

// TestSystemDFContainersVolumes: system df lists containers and volumes,
// and every volume has UsageData (Docker's CLI reads it unchecked).
func TestSystemDFContainersVolumes(t *testing.T) {
	f, url := startContainers(t)
	status, body, _ := call(t, "GET", url+"/system/df", "")
	if status != 200 {
		t.Fatalf("df: %d %s", status, body)
	}
	var du struct {
		Containers []types.ContainerSummary
		Volumes    []types.Volume
	}
	if err := json.Unmarshal(body, &du); err != nil {
		t.Fatal(err)
	}
	if len(du.Containers) != 1 || len(du.Volumes) != 1 {
		t.Fatalf("df: %s", body)
	}
	if u := du.Volumes[0].UsageData; u == nil || u.RefCount != 1 || u.Size != -1 {
		t.Errorf("volume usage %+v", u)
	}
	if o := f.lastList; !o.All || !o.Size {
		t.Errorf("df lists containers with %+v", o)
	}
}
