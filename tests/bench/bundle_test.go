package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestEditSpec(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"runc default shape", `{"ociVersion":"1.0.2-dev","process":{"terminal":true,"args":["sh"],"cwd":"/"},"root":{"path":"rootfs","readonly":true},"hostname":"runc"}`, false},
		{"other root path", `{"process":{"args":["sh"]},"root":{"path":"fs"}}`, false},
		{"no process", `{"root":{"path":"rootfs"}}`, true},
		{"process not an object", `{"process":[],"root":{"path":"rootfs"}}`, true},
		{"no root", `{"process":{"args":["sh"]}}`, true},
		{"not json", `{`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := editSpec([]byte(c.in))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			var got struct {
				Process struct {
					Args     []string
					Terminal bool
					Cwd      string
				}
				Root struct {
					Path     string
					Readonly bool
				}
				Hostname string
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Process.Args, []string{"/bin/true"}) || got.Process.Terminal {
				t.Errorf("process = %+v, want args [/bin/true] without terminal", got.Process)
			}
			if got.Root.Path != "rootfs" || got.Root.Readonly {
				t.Errorf("root = %+v, want rootfs, writable", got.Root)
			}
			var in, kept map[string]any
			json.Unmarshal([]byte(c.in), &in)
			json.Unmarshal(out, &kept)
			if in["hostname"] != kept["hostname"] {
				t.Errorf("hostname %v not kept (got %v)", in["hostname"], kept["hostname"])
			}
		})
	}
}

func TestMakeRootfs(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "busybox")
	if err := os.WriteFile(fake, []byte("#!fake busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "rootfs")
	if err := makeRootfs(root, fake); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "bin", "true")); err != nil || string(data) != "#!fake busybox" {
		t.Errorf("bin/true does not lead to busybox: %q, %v", data, err)
	}
	for _, p := range []string{"bin/sh", "bin/true"} {
		if target, err := os.Readlink(filepath.Join(root, p)); err != nil || target != "busybox" {
			t.Errorf("%s -> %q (%v), want a relative link to busybox", p, target, err)
		}
	}
	for _, d := range []string{"proc", "dev", "sys", "tmp"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("mount point %s missing: %v", d, err)
		}
	}
	if err := makeRootfs(filepath.Join(dir, "other"), filepath.Join(dir, "missing")); err == nil {
		t.Error("makeRootfs with a missing busybox succeeded")
	}
}
