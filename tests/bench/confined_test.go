package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestDeriveBundle(t *testing.T) {
	base, dir := t.TempDir(), filepath.Join(t.TempDir(), "derived")
	in := `{"ociVersion":"1.0.2","process":{"args":["/bin/true"],"cwd":"/"},"root":{"path":"rootfs"},` +
		`"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]},"namespaces":[{"type":"pid"}]}}`
	if err := os.WriteFile(filepath.Join(base, "config.json"), []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := deriveBundle(base, dir, "/abs/rootfs", confine); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Root  struct{ Path string }
		Linux struct {
			Resources struct {
				Devices []map[string]any
				Memory  struct{ Limit int64 }
				Pids    struct{ Limit int64 }
			}
			Seccomp struct {
				DefaultAction string
				Syscalls      []struct{ Names []string }
			}
			Namespaces []map[string]any
		}
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	l := got.Linux
	if got.Root.Path != "/abs/rootfs" {
		t.Errorf("root.path %q", got.Root.Path)
	}
	if l.Resources.Memory.Limit != confinedMemory || l.Resources.Pids.Limit != confinedPids || len(l.Resources.Devices) != 1 {
		t.Errorf("resources %+v: want the limits added and the device rules kept", l.Resources)
	}
	if l.Seccomp.DefaultAction != "SCMP_ACT_ERRNO" || len(l.Seccomp.Syscalls) == 0 || len(l.Seccomp.Syscalls[0].Names) < 300 {
		t.Errorf("seccomp: want the default profile, got %s with %d rules", l.Seccomp.DefaultAction, len(l.Seccomp.Syscalls))
	}
	if len(l.Namespaces) != 1 {
		t.Errorf("namespaces not kept: %v", l.Namespaces)
	}
	// The base bundle is not changed.
	if b, _ := os.ReadFile(filepath.Join(base, "config.json")); string(b) != in {
		t.Errorf("base config.json changed: %s", b)
	}
}

func TestDeriveBundleErrors(t *testing.T) {
	cases := map[string]string{
		"no root":   `{"process":{},"linux":{}}`,
		"no linux":  `{"process":{},"root":{}}`,
		"not json":  `{`,
		"no config": "",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			if in != "" {
				if err := os.WriteFile(filepath.Join(base, "config.json"), []byte(in), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := deriveBundle(base, filepath.Join(t.TempDir(), "d"), "/r", confine); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestSleeper(t *testing.T) {
	spec := map[string]any{"process": map[string]any{"args": []string{"/bin/true"}}}
	if err := sleeper(spec); err != nil {
		t.Fatal(err)
	}
	args := spec["process"].(map[string]any)["args"].([]string)
	if len(args) != 2 || args[0] != "/bin/sleep" {
		t.Errorf("args %q", args)
	}
	if err := sleeper(map[string]any{}); err == nil {
		t.Error("want an error without a process")
	}
}
