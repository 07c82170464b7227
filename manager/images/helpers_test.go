package images

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSingleReference(t *testing.T) {
	const (
		tagA  = "docker.io/library/a:latest"
		tagA2 = "docker.io/library/a:2"
		digA  = "docker.io/library/a@sha256:0000000000000000000000000000000000000000000000000000000000000000"
		digB  = "docker.io/library/b@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	)
	tests := []struct {
		refs []string
		want bool
	}{
		{nil, false},
		{[]string{tagA}, true},
		{[]string{tagA, digA}, true},
		{[]string{tagA, tagA2}, false},
		{[]string{tagA, digB}, false},
		{[]string{digA, digB}, false},
		{[]string{digA}, true},
	}
	for _, tt := range tests {
		if got := singleReference(tt.refs); got != tt.want {
			t.Errorf("singleReference(%q) = %v, want %v", tt.refs, got, tt.want)
		}
	}
}

func TestMatchNames(t *testing.T) {
	names := []string{"docker.io/library/busybox:latest", "docker.io/library/busybox:1.36", "localhost:5000/app/web:2", "docker.io/me/tool:x"}
	tests := []struct {
		patterns []string
		want     []string
	}{
		{[]string{"busybox"}, names[:2]},
		{[]string{"busybox:1*"}, names[1:2]},
		{[]string{"localhost:5000/app/*"}, names[2:3]},
		{[]string{"me/*"}, names[3:4]},
		{[]string{"nothing"}, nil},
		{[]string{"nothing", "*/tool:x"}, names[3:4]},
	}
	for _, tt := range tests {
		if got := matchNames(tt.patterns, names); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("matchNames(%q) = %q, want %q", tt.patterns, got, tt.want)
		}
	}
}

func TestMatchLabels(t *testing.T) {
	labels := map[string]string{"a": "1", "b": ""}
	tests := []struct {
		want, not []string
		ok        bool
	}{
		{nil, nil, true},
		{[]string{"a"}, nil, true},
		{[]string{"a=1", "b"}, nil, true},
		{[]string{"a=2"}, nil, false},
		{[]string{"c"}, nil, false},
		{nil, []string{"a"}, false},
		{nil, []string{"a=2"}, true},
		{[]string{"b="}, nil, true},
	}
	for _, tt := range tests {
		if got := matchLabels(labels, tt.want, tt.not); got != tt.ok {
			t.Errorf("matchLabels(%q, not %q) = %v, want %v", tt.want, tt.not, got, tt.ok)
		}
	}
}

func TestParseUntil(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"24h", now.Add(-24 * time.Hour)},
		{"1715000000", time.Unix(1715000000, 0)},
		{"1715000000.5", time.Unix(1715000000, 500000000)},
		{"2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2024-01-02", time.Date(2024, 1, 2, 0, 0, 0, 0, time.Local)},
	}
	for _, tt := range tests {
		got, err := parseUntil(tt.in, now)
		if err != nil {
			t.Errorf("parseUntil(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("parseUntil(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "12abc", "2024-13-01"} {
		if _, err := parseUntil(bad, now); err == nil {
			t.Errorf("parseUntil(%q) = nil error, want one", bad)
		}
	}
}

func TestCleanArchivePath(t *testing.T) {
	good := map[string]string{
		"manifest.json":           "manifest.json",
		"./manifest.json":         "manifest.json",
		"abc/layer.tar":           "abc/layer.tar",
		"blobs//sha256/./ab":      "blobs/sha256/ab",
		"abc/../abc/layer.tar":    "",
		"../etc/passwd":           "",
		"/etc/passwd":             "",
		"a/../../b":               "",
		"blobs/sha256/../../../x": "",
	}
	for in, want := range good {
		got, err := cleanArchivePath(in)
		if want == "" {
			if err == nil {
				t.Errorf("cleanArchivePath(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("cleanArchivePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestImageNameOf(t *testing.T) {
	tests := []struct {
		ann  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"org.opencontainers.image.ref.name": "latest"}, ""},
		{map[string]string{"org.opencontainers.image.ref.name": "busybox:1"}, "docker.io/library/busybox:1"},
		{map[string]string{"org.opencontainers.image.ref.name": "localhost:5000/x"}, "localhost:5000/x:latest"},
		{map[string]string{"org.opencontainers.image.ref.name": "3", "io.containerd.image.name": "docker.io/library/alpine:3"}, "docker.io/library/alpine:3"},
		{map[string]string{"org.opencontainers.image.ref.name": "Bad:Name/x"}, ""},
		{map[string]string{"io.containerd.image.name": "docker.io/library/alpine:3"}, "docker.io/library/alpine:3"},
		{map[string]string{"org.opencontainers.image.ref.name": "other", "io.containerd.image.name": "docker.io/library/alpine:3"}, ""},
		{map[string]string{"org.opencontainers.image.ref.name": "x.io/new:1", "io.containerd.image.name": "docker.io/library/alpine:3"}, "x.io/new:1"},
	}
	for _, tt := range tests {
		if got := imageNameOf(tt.ann); got != tt.want {
			t.Errorf("imageNameOf(%v) = %q, want %q", tt.ann, got, tt.want)
		}
	}
}

func TestIDFromRef(t *testing.T) {
	full := "3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741"
	tests := []struct {
		in         string
		prefix     string
		full, isID bool
	}{
		{full, full, true, true},
		{"sha256:" + full, full, true, true},
		{"3f57d9401f8d", "3f57d9401f8d", false, true},
		{"sha256:3f57", "3f57", false, true},
		{"busybox", "", false, false},
		{"3F57", "", false, false},
	}
	for _, tt := range tests {
		p, f, ok := idFromRef(tt.in)
		if p != tt.prefix || f != tt.full || ok != tt.isID {
			t.Errorf("idFromRef(%q) = %q, %v, %v; want %q, %v, %v", tt.in, p, f, ok, tt.prefix, tt.full, tt.isID)
		}
	}
}

func TestParseSaveFormat(t *testing.T) {
	for in, want := range map[string]SaveFormat{"": SaveDocker, "docker": SaveDocker, "docker-archive": SaveDocker, "oci": SaveOCI, "oci-archive": SaveOCI} {
		if got, err := ParseSaveFormat(in); err != nil || got != want {
			t.Errorf("ParseSaveFormat(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSaveFormat("tgz"); err == nil {
		t.Error("ParseSaveFormat(tgz) = nil error")
	}
}

func TestOCILayerType(t *testing.T) {
	for in, want := range map[string]string{
		"application/vnd.docker.image.rootfs.diff.tar.gzip":         "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar":              "application/vnd.oci.image.layer.v1.tar",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd":               "application/vnd.oci.image.layer.v1.tar+zstd",
	} {
		if got := ociLayerType(in); got != want {
			t.Errorf("ociLayerType(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestIsBlobPath(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for in, ok := range map[string]bool{
		"blobs/sha256/" + hex:        true,
		"blobs/sha256/" + hex[:10]:   false,
		"blobs/md5/" + hex:           false,
		"x/sha256/" + hex:            false,
		"blobs/sha256/" + hex + "/x": false,
	} {
		if _, got := isBlobPath(in); got != ok {
			t.Errorf("isBlobPath(%s) = %v, want %v", in, got, ok)
		}
	}
}
