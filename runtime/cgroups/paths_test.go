package cgroups

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	mixed := map[string]string{"cpu": "/", "memory": "/process_api/abc", "systemd": "/", unifiedName: "/"}
	same := map[string]string{"cpu": "/user", "memory": "/user/", unifiedName: "/user"}
	tests := []struct {
		name, path, id string
		own            map[string]string
		want           location
		err            string
	}{
		{name: "default", path: "", id: "c1", want: location{path: "/xrt/c1"}},
		{name: "absolute", path: "/a/b", id: "c1", want: location{path: "/a/b"}},
		{name: "absolute cleaned", path: "/a//./b/../c/", id: "c1", want: location{path: "/a/c"}},
		{name: "relative under differing own cgroups", path: "a/b", own: mixed, want: location{byHierarchy: map[string]string{
			"cpu": "/a/b", "memory": "/process_api/abc/a/b", "systemd": "/a/b", unifiedName: "/a/b"}}},
		{name: "relative under equal own cgroups collapses", path: "./a", own: same, want: location{path: "/user/a"}},
		{name: "systemd form", path: "system.slice:xrt:c1", err: "systemd cgroup driver"},
		{name: "absolute escape", path: "/../etc", err: "climbs out"},
		{name: "relative escape", path: "a/../../b", own: mixed, err: "climbs out"},
		{name: "root", path: "/", err: "not the root"},
		{name: "relative to nothing", path: "a/..", own: mixed, err: "not the root"},
		{name: "separator", path: "/a;b", err: "not allowed"},
		{name: "bad id", path: "", id: "../x", err: "cannot name a cgroup"},
		{name: "empty id", path: "", id: "", err: "cannot name a cgroup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveWith(tt.path, tt.id, func() (map[string]string, error) {
				if tt.own == nil {
					t.Fatal("own cgroups read for a path that does not need them")
				}
				return tt.own, nil
			})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			back, err := parseLocation(got.String())
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("round trip of %q: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestSystemdError(t *testing.T) {
	_, err := resolveWith("user.slice:xrt:c1", "c1", nil)
	if !errors.Is(err, ErrSystemd) {
		t.Fatalf("err = %v, want ErrSystemd", err)
	}
}

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in   string
		want location
		bad  bool
	}{
		{in: "/xrt/c1", want: location{path: "/xrt/c1"}},
		{in: "cpu:/a;memory:/p/a", want: location{byHierarchy: map[string]string{"cpu": "/a", "memory": "/p/a"}}},
		{in: "/", bad: true},
		{in: "/a/../b", bad: true},
		{in: "cpu=/a", bad: true},
		{in: "cpu:a", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		got, err := parseLocation(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseLocation(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseLocation(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	in := "9:name=systemd:/\n4:memory:/process_api/9d90\n2:cpu,cpuacct:/x\n0::/\n"
	got, err := parseProcCgroup([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"systemd": "/", "memory": "/process_api/9d90", "cpu": "/x", "cpuacct": "/x", unifiedName: "/"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := parseProcCgroup([]byte("garbage\n")); err == nil {
		t.Fatal("a line without colons was accepted")
	}
}
