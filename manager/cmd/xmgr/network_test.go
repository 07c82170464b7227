package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestIPAMConfig(t *testing.T) {
	tests := []struct {
		subnets, gateways, ranges []string
		want                      []types.IPAMConfig
		err                       string
	}{
		{nil, nil, nil, []types.IPAMConfig{}, ""},
		{[]string{"10.1.0.0/16"}, []string{"10.1.0.254"}, []string{"10.1.2.0/24"},
			[]types.IPAMConfig{{Subnet: "10.1.0.0/16", Gateway: "10.1.0.254", IPRange: "10.1.2.0/24"}}, ""},
		{[]string{"10.1.0.0/24", "10.2.0.0/24"}, []string{"10.2.0.1", "10.1.0.1"}, nil,
			[]types.IPAMConfig{{Subnet: "10.1.0.0/24", Gateway: "10.1.0.1"}, {Subnet: "10.2.0.0/24", Gateway: "10.2.0.1"}}, ""},
		{nil, []string{"10.1.0.1"}, nil, nil, "every ip-range or gateway must have a corresponding subnet"},
		{[]string{"10.1.0.0"}, nil, nil, nil, "invalid subnet 10.1.0.0: it must be in CIDR format"},
		{[]string{"10.1.0.0/24"}, []string{"10.9.0.1"}, nil, nil, "no matching subnet for gateway 10.9.0.1"},
		{[]string{"10.1.0.0/24"}, []string{"nope"}, nil, nil, "invalid gateway nope"},
		{[]string{"10.1.0.0/24"}, nil, []string{"10.9.0.0/25"}, nil, "no matching subnet for range 10.9.0.0/25"},
		{[]string{"10.1.0.0/24"}, nil, []string{"10.1.0.0/16"}, nil, "is larger than its subnet"},
		{[]string{"10.1.0.0/16", "10.1.2.0/24"}, nil, nil, nil, "overlapping"},
		{[]string{"10.1.0.0/24", "10.2.0.0/24"}, []string{"10.1.0.1", "10.1.0.2"}, nil, nil,
			"cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/24)"},
	}
	for _, tt := range tests {
		got, err := ipamConfig(tt.subnets, tt.gateways, tt.ranges)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ipamConfig(%v, %v, %v): error %v, want %q", tt.subnets, tt.gateways, tt.ranges, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ipamConfig(%v, %v, %v) = %+v, %v", tt.subnets, tt.gateways, tt.ranges, got, err)
		}
	}
}

func TestNetworkCreateRequest(t *testing.T) {
	req, err := networkCreateRequest("n", "bridge", []string{"10.3.0.0/24"}, nil, nil,
		[]string{"team=web", "flag"}, []string{"com.docker.network.bridge.name=br-x"})
	if err != nil {
		t.Fatal(err)
	}
	if !req.CheckDuplicate || req.Labels["team"] != "web" || req.Labels["flag"] != "" ||
		req.Options["com.docker.network.bridge.name"] != "br-x" || req.IPAM.Config[0].Subnet != "10.3.0.0/24" {
		t.Errorf("request: %+v", req)
	}
	if _, err := networkCreateRequest("n", "bridge", nil, nil, nil, nil, []string{"novalue"}); err == nil ||
		!strings.Contains(err.Error(), `invalid argument "novalue" for "--opt" flag`) {
		t.Errorf("an -o without a value: %v", err)
	}
	if _, err := networkCreateRequest("n", "bridge", nil, nil, nil, []string{"=v"}, nil); err == nil {
		t.Error("a label without a key passed")
	}
}

func TestNetworkAndVolumeRows(t *testing.T) {
	n := networkRowOf(types.NetworkResource{ID: strings.Repeat("ab", 32), Name: "bridge", Driver: "bridge", Scope: "local",
		Labels: map[string]string{"z": "1", "a": "2"}}, true)
	if n.ID != "abababababab" || n.Labels != "a=2,z=1" || n.Label("z") != "1" || n.IPv6 != "false" {
		t.Errorf("network row: %+v", n)
	}
	v := volumeRowOf(types.Volume{Name: "data", Driver: "local", UsageData: &types.VolumeUsageData{RefCount: 2, Size: 2048}})
	if v.Links != "2" || v.Size != "2.05kB" {
		t.Errorf("volume row: %+v", v)
	}
	if v := volumeRowOf(types.Volume{Name: "x"}); v.Links != "N/A" || v.Size != "N/A" {
		t.Errorf("volume row without usage: %+v", v)
	}
}
