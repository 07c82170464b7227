package reference

import (
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

const hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestParse(t *testing.T) {
	tests := []struct {
		in, full, familiar, name, host string
	}{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io/library/busybox", "registry-1.docker.io"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io/library/busybox", "registry-1.docker.io"},
		{"library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io/library/busybox", "registry-1.docker.io"},
		{"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io/library/busybox", "registry-1.docker.io"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io/library/busybox", "registry-1.docker.io"},
		{"myorg/app:v1", "docker.io/myorg/app:v1", "myorg/app:v1", "docker.io/myorg/app", "registry-1.docker.io"},
		{"myorg/team/app", "docker.io/myorg/team/app:latest", "myorg/team/app:latest", "docker.io/myorg/team/app", "registry-1.docker.io"},
		{"localhost/app", "localhost/app:latest", "localhost/app:latest", "localhost/app", "localhost"},
		{"localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app", "localhost:5000"},
		{"127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest", "127.0.0.1:5000/a/b:latest", "127.0.0.1:5000/a/b", "127.0.0.1:5000"},
		{"quay.io/coreos/etcd", "quay.io/coreos/etcd:latest", "quay.io/coreos/etcd:latest", "quay.io/coreos/etcd", "quay.io"},
		{"myreg:5000/x:1", "myreg:5000/x:1", "myreg:5000/x:1", "myreg:5000/x", "myreg:5000"},
		{"Reg/app", "Reg/app:latest", "Reg/app:latest", "Reg/app", "Reg"}, // upper case first component: a host
		{"[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest", "[::1]:5000/app", "[::1]:5000"},
		{"a__b/c-d--e.f_g", "docker.io/a__b/c-d--e.f_g:latest", "a__b/c-d--e.f_g:latest", "docker.io/a__b/c-d--e.f_g", "registry-1.docker.io"},
		{"busybox@sha256:" + hexA, "docker.io/library/busybox@sha256:" + hexA, "busybox@sha256:" + hexA, "docker.io/library/busybox", "registry-1.docker.io"},
		{"busybox:1@sha256:" + hexA, "docker.io/library/busybox:1@sha256:" + hexA, "busybox:1@sha256:" + hexA, "docker.io/library/busybox", "registry-1.docker.io"},
		{"localhost:5000/app@sha256:" + hexA, "localhost:5000/app@sha256:" + hexA, "localhost:5000/app@sha256:" + hexA, "localhost:5000/app", "localhost:5000"},
		{"busybox:" + strings.Repeat("t", 128), "docker.io/library/busybox:" + strings.Repeat("t", 128), "busybox:" + strings.Repeat("t", 128), "docker.io/library/busybox", "registry-1.docker.io"},
		{"busybox:_x.Y-1", "docker.io/library/busybox:_x.Y-1", "busybox:_x.Y-1", "docker.io/library/busybox", "registry-1.docker.io"},
		{"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "docker.io/library/localhost", "registry-1.docker.io"}, // a tag, as in Docker
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := n.String(); got != tt.full {
				t.Errorf("String() = %q, want %q", got, tt.full)
			}
			if got := n.Familiar(); got != tt.familiar {
				t.Errorf("Familiar() = %q, want %q", got, tt.familiar)
			}
			if got := n.Name(); got != tt.name {
				t.Errorf("Name() = %q, want %q", got, tt.name)
			}
			if got := n.RegistryHost(); got != tt.host {
				t.Errorf("RegistryHost() = %q, want %q", got, tt.host)
			}
			// The full and familiar forms parse back to the same thing.
			for _, s := range []string{n.String(), n.Familiar()} {
				again, err := Parse(s)
				if err != nil || again != n {
					t.Errorf("Parse(%q) = %+v, %v; want %+v", s, again, err, n)
				}
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty reference"},
		{"Busybox", "must be lowercase"},
		{"docker.io/Library/busybox", "must be lowercase"},
		{"busybox:", "bad tag"},
		{"busybox:-x", "bad tag"},
		{"busybox:" + strings.Repeat("t", 129), "bad tag"},
		{"busybox@sha256:abc", "bad digest"},
		{"busybox@" + hexA, "bad digest"},
		{"busybox@sha256:" + hexA[:63], "bad digest"}, // sha256 must be 64 hex
		{":latest", "empty name"},
		{"bus/", "bad repository name"},
		{"/busybox", "bad repository name"},
		{"bus--/box", "bad repository name"},
		{"bus_-box", "bad repository name"},
		{"bus..box", "bad repository name"},
		{"-reg.io/app", "bad registry host"},
		{"reg.io:x/app", "bad registry host"},
		{"a b", "bad repository name"},
		{hexA, "64-byte hexadecimal"},
		{"docker.io/" + strings.Repeat("a", 250), "more than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.in)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("Parse(%q): %v is not an invalid-argument error", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q): %q does not say %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseNamedKeepsNoTag(t *testing.T) {
	n, err := ParseNamed("busybox")
	if err != nil {
		t.Fatal(err)
	}
	if n.Tag != "" || n.String() != "docker.io/library/busybox" {
		t.Fatalf("ParseNamed(busybox) = %+v (%s)", n, n)
	}
	if got := n.WithTag("1").Familiar(); got != "busybox:1" {
		t.Errorf("WithTag = %q", got)
	}
	if got := n.WithDigest("sha256:" + hexA).String(); got != "docker.io/library/busybox@sha256:"+hexA {
		t.Errorf("WithDigest = %q", got)
	}
}

func TestIndexServer(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "https://index.docker.io/v1/"},
		{"docker.io", "https://index.docker.io/v1/"},
		{"https://index.docker.io/v1/", "https://index.docker.io/v1/"},
		{"registry-1.docker.io", "https://index.docker.io/v1/"},
		{"127.0.0.1:5000", "127.0.0.1:5000"},
		{"http://127.0.0.1:5000/", "127.0.0.1:5000"},
		{"https://quay.io/v2/", "quay.io"},
	}
	for _, tt := range tests {
		if got := IndexServer(tt.in); got != tt.want {
			t.Errorf("IndexServer(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
