package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestDisplayPorts(t *testing.T) {
	tcp := func(ip string, pub, priv uint16) types.Port {
		return types.Port{IP: ip, PublicPort: pub, PrivatePort: priv, Type: "tcp"}
	}
	tests := []struct {
		ports []types.Port
		want  string
	}{
		{nil, ""},
		{[]types.Port{{PrivatePort: 80, Type: "tcp"}}, "80/tcp"},
		{[]types.Port{tcp("0.0.0.0", 3000, 3000), tcp("::", 3000, 3000)},
			"0.0.0.0:3000->3000/tcp, :::3000->3000/tcp"},
		{[]types.Port{tcp("0.0.0.0", 8080, 80)}, "0.0.0.0:8080->80/tcp"},
		{[]types.Port{tcp("0.0.0.0", 8001, 8001), tcp("0.0.0.0", 8000, 8000), {PrivatePort: 53, Type: "udp"}},
			"53/udp, 0.0.0.0:8000-8001->8000-8001/tcp"},
		{[]types.Port{tcp("0.0.0.0", 8000, 8000), tcp("0.0.0.0", 8002, 8002)},
			"0.0.0.0:8000->8000/tcp, 0.0.0.0:8002->8002/tcp"},
		{[]types.Port{tcp("0.0.0.0", 9000, 80), {PrivatePort: 443, Type: "tcp"}, tcp("127.0.0.1", 22, 22)},
			"127.0.0.1:22->22/tcp, 443/tcp, 0.0.0.0:9000->80/tcp"},
	}
	for _, tt := range tests {
		if got := displayPorts(tt.ports); got != tt.want {
			t.Errorf("displayPorts(%v) = %q, want %q", tt.ports, got, tt.want)
		}
	}
}

func TestContainerRow(t *testing.T) {
	s := types.ContainerSummary{
		ID:      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Names:   []string{"/web", "/other/alias"},
		Image:   "docker.io/library/busybox:1.36@sha256:" + strings.Repeat("a", 64),
		ImageID: "sha256:" + strings.Repeat("b", 64),
		Command: "sh -c 'while true; do sleep 1; done'",
		Created: time.Now().Add(-2 * time.Minute).Unix(),
		Ports:   []types.Port{{IP: "0.0.0.0", PublicPort: 3000, PrivatePort: 3000, Type: "tcp"}},
		Labels:  map[string]string{"b": "2", "a": "1"},
		State:   "running",
		Status:  "Up 2 minutes (healthy)",
		SizeRw:  1240000, SizeRootFs: 4261000,
		Mounts: []types.MountPoint{{Name: "0123456789abcdef0123", Driver: "local"}, {Source: "/srv"}},
		NetworkSettings: &types.SummaryNetworkSettings{Networks: map[string]*types.EndpointSettings{
			"bridge": {}, "app": {}}},
	}
	r := containerRowOf(s, true)
	want := containerRow{
		ID: "0123456789ab", Image: "busybox:1.36", Command: `"sh -c 'while true; …"`,
		RunningFor: "2 minutes ago", Ports: "0.0.0.0:3000->3000/tcp", State: "running",
		Status: "Up 2 minutes (healthy)", Size: "1.24MB (virtual 4.26MB)", Names: "web",
		Labels: "a=1,b=2", Mounts: "0123456789abcd…,/srv", Networks: "app,bridge", LocalVolumes: "1",
	}
	want.CreatedAt, want.labels = r.CreatedAt, r.labels
	if !reflect.DeepEqual(r, want) {
		t.Errorf("row:\n%+v\nwant\n%+v", r, want)
	}
	if r.Label("a") != "1" || r.Label("zz") != "" {
		t.Errorf("Label: %q %q", r.Label("a"), r.Label("zz"))
	}

	full := containerRowOf(s, false)
	if full.ID != s.ID || full.Image != s.Image || full.Names != "web,other/alias" ||
		full.Command != `"sh -c 'while true; do sleep 1; done'"` {
		t.Errorf("untruncated row: %+v", full)
	}

	s.Image = "sha256:" + strings.Repeat("b", 64)
	if got := containerRowOf(s, true).Image; got != "bbbbbbbbbbbb" {
		t.Errorf("image by ID: %q", got)
	}
	s.Image = ""
	if got := containerRowOf(s, true).Image; got != "<no image>" {
		t.Errorf("no image: %q", got)
	}
}

func TestPsTable(t *testing.T) {
	rows := []any{
		containerRow{ID: "0123456789ab", Image: "busybox", Command: `"true"`, RunningFor: "3 seconds ago",
			Status: "Exited (0) 2 seconds ago", Names: "a", labelled: labelled{labels: map[string]string{"env": "prod"}}},
		containerRow{ID: "ba9876543210", Image: "nginx:1", Command: `"nginx -g 'daemon of…"`, RunningFor: "1 minute ago",
			Status: "Up 59 seconds", Ports: "80/tcp", Names: "b"},
	}
	var b bytes.Buffer
	if err := (table{def: psDefaultFormat, headers: containerHeader}).write(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                     PORTS     NAMES\n" +
		"0123456789ab   busybox   \"true\"                   3 seconds ago   Exited (0) 2 seconds ago             a\n" +
		"ba9876543210   nginx:1   \"nginx -g 'daemon of…\"   1 minute ago    Up 59 seconds              80/tcp    b\n"
	if b.String() != want {
		t.Errorf("ps table:\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	if err := (table{format: `table {{.Names}}\t{{.Label "env"}}`, headers: containerHeader}).write(&b, rows); err != nil {
		t.Fatal(err)
	}
	if want := "NAMES     LABEL\na         prod\nb         \n"; b.String() != want {
		t.Errorf("ps --format with Label:\n%q\nwant\n%q", b.String(), want)
	}
}
