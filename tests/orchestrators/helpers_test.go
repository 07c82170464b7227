package orchestrators

import (
	"strings"
	"testing"
)

// The helpers that read runtime call logs and shim command lines decide
// what the tests check and what cleanup removes: they get tests too.

func TestCommandOf(t *testing.T) {
	tests := []struct{ line, want string }{
		{"--root /run/r --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid c1", "create"},
		{"--root /run/r --log /b/log.json --log-format json delete --force c1", "delete"},
		{"--debug --systemd-cgroup --root /r kill c1 15", "kill"},
		{"--root /r --criu /usr/sbin/criu --rootless auto exec --process /tmp/p c1", "exec"},
		{"--root /r", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := commandOf(strings.Fields(tt.line)); got != tt.want {
			t.Errorf("commandOf(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestShimSocketOf(t *testing.T) {
	cmdline := func(args ...string) []byte { return []byte(strings.Join(args, "\x00") + "\x00") }
	want := shimSocket("/tmp/x/containerd.sock", "ns1", "c1")
	if !strings.HasPrefix(want, "/run/containerd/s/") || len(want) != len("/run/containerd/s/")+64 {
		t.Fatalf("shimSocket: %q, want /run/containerd/s/<sha256 hex>", want)
	}
	if shimSocket("/tmp/x/containerd.sock", "ns1", "c2") == want {
		t.Fatal("shimSocket: two containers, one socket")
	}
	tests := []struct {
		name    string
		cmdline []byte
		want    string
	}{
		{"shim", cmdline("/usr/bin/containerd-shim-runc-v2", "-namespace", "ns1", "-id", "c1", "-address", "/tmp/x/containerd.sock"), want},
		{"shim, flags in another order", cmdline("containerd-shim-runc-v2", "-address", "/tmp/x/containerd.sock", "-id", "c1", "-namespace", "ns1"), want},
		{"shim without an id", cmdline("containerd-shim-runc-v2", "-namespace", "ns1", "-address", "/tmp/x/containerd.sock"), ""},
		{"not a shim", cmdline("containerd", "--config", "/tmp/x/containerd.toml"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		if got := shimSocketOf(tt.cmdline); got != tt.want {
			t.Errorf("%s: shimSocketOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}
