package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestPortLines(t *testing.T) {
	ports := types.PortMap{
		"8080/tcp": {{HostIP: "0.0.0.0", HostPort: "8080"}, {HostIP: "::", HostPort: "8080"}},
		"53/udp":   {{HostIP: "127.0.0.1", HostPort: "5353"}},
		"443/tcp":  nil, // exposed only
		"80/tcp":   {{HostIP: "0.0.0.0", HostPort: "32768"}},
	}
	got, err := portLines(ports, "")
	want := []string{"53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:32768", "8080/tcp -> 0.0.0.0:8080", "8080/tcp -> [::]:8080"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("all ports: %q %v", got, err)
	}
	if got, err := portLines(ports, "8080"); err != nil || !reflect.DeepEqual(got, []string{"0.0.0.0:8080", "[::]:8080"}) {
		t.Errorf("port 8080: %q %v", got, err)
	}
	if got, err := portLines(ports, "53/udp"); err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1:5353"}) {
		t.Errorf("port 53/udp: %q %v", got, err)
	}
	if _, err := portLines(ports, "443"); err == nil || err.Error() != "Error: No public port '443/tcp' published" {
		t.Errorf("an unpublished port: %v", err)
	}
	if _, err := portLines(ports, "http"); err == nil || !strings.Contains(err.Error(), `invalid port (http)`) {
		t.Errorf("a bad port: %v", err)
	}
}

func TestWriteTop(t *testing.T) {
	var b bytes.Buffer
	err := writeTop(&b, types.ContainerTopResponse{
		Titles:    []string{"UID", "PID", "CMD"},
		Processes: [][]string{{"root", "4242", "sleep 100"}},
	})
	want := "UID                 PID                 CMD\nroot                4242                sleep 100\n"
	if err != nil || b.String() != want {
		t.Errorf("top:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestChangeKind(t *testing.T) {
	if changeKind(types.ChangeAdd)+changeKind(types.ChangeDelete)+changeKind(types.ChangeModify) != "ADC" {
		t.Error("change letters")
	}
}
