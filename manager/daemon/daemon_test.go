package daemon

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
)

func TestLockFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "xmgr.pid")
	f, err := lockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file holds %q", b)
	}
	// flock locks are per open file: a second open in this process
	// conflicts as another daemon's would.
	if _, err := lockFile(p); err == nil || !strings.Contains(err.Error(), "locked by another xmgr daemon (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("second lock: %v", err)
	}
	f.Close()
	g, err := lockFile(p)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	g.Close()
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.DataRoot != "/var/lib/xmgr" || c.ExecRoot != "/run/xmgr" || c.StorageDriver != "overlay2" ||
		!reflect.DeepEqual(c.Hosts, []string{"unix:///run/xmgr/xmgr.sock"}) {
		t.Errorf("defaults: %+v", c)
	}
	bad := Config{Hosts: []string{"/tmp/x.sock"}}
	if err := bad.setDefaults(); err == nil || !strings.Contains(err.Error(), `invalid host "/tmp/x.sock"`) {
		t.Errorf("bad host: %v", err)
	}
}

func TestListFilter(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		filters map[string][]string
		want    images.ListFilter
		err     string
	}{
		{nil, images.ListFilter{}, ""},
		{map[string][]string{"dangling": {"true"}}, images.ListFilter{Dangling: &yes}, ""},
		{map[string][]string{"dangling": {"0"}}, images.ListFilter{Dangling: &no}, ""},
		{map[string][]string{"dangling": {"maybe"}}, images.ListFilter{}, "invalid filter 'dangling=maybe'"},
		{map[string][]string{"before": {"a", "b"}}, images.ListFilter{}, "filter before takes one value"},
		{map[string][]string{"reference": {"b*", "a"}, "label": {"x=y"}, "since": {"busybox"}},
			images.ListFilter{Reference: []string{"a", "b*"}, Label: []string{"x=y"}, Since: "busybox"}, ""},
	}
	for _, tt := range tests {
		f := types.NewFilters()
		for k, vs := range tt.filters {
			for _, v := range vs {
				f.Add(k, v)
			}
		}
		got, err := listFilter(false, f)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
				t.Errorf("%v: error %v, want %q", tt.filters, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.filters, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: %+v, want %+v", tt.filters, got, tt.want)
		}
	}
}

func TestSummaryPlaceholders(t *testing.T) {
	s := summary(&images.Image{ID: "sha256:abc"})
	if !reflect.DeepEqual(s.RepoTags, []string{"<none>:<none>"}) || !reflect.DeepEqual(s.RepoDigests, []string{"<none>@<none>"}) {
		t.Errorf("untagged: %+v", s)
	}
	s = summary(&images.Image{ID: "sha256:abc", RepoTags: []string{"a:1"}})
	if !reflect.DeepEqual(s.RepoTags, []string{"a:1"}) || s.RepoDigests == nil || len(s.RepoDigests) != 0 {
		t.Errorf("tagged: %+v", s)
	}
}

func TestDecodeBasic(t *testing.T) {
	u, p, err := decodeBasic(base64.StdEncoding.EncodeToString([]byte("me:se:cret")))
	if err != nil || u != "me" || p != "se:cret" {
		t.Errorf("decodeBasic = %q %q %v", u, p, err)
	}
	for _, bad := range []string{"!!", base64.StdEncoding.EncodeToString([]byte("nocolon"))} {
		if _, _, err := decodeBasic(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("decodeBasic(%q): %v", bad, err)
		}
	}
}

func TestEngineIDStable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "engine-id")
	a, err := engineID(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := engineID(p)
	if err != nil || a != b || len(a) != 36 {
		t.Errorf("engine id %q then %q (%v)", a, b, err)
	}
}
