package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// recordingHook writes the state it gets on stdin to dir/name.json and
// appends its name to dir/order. It runs busybox, which is at /bin/busybox
// both on the host and in the rootfs, so it works in either namespace.
func recordingHook(dir, name string) rspec.Hook {
	return rspec.Hook{
		Path: "/bin/busybox",
		Args: []string{"sh", "-c", fmt.Sprintf("cat >%[1]s/%[2]s.json && echo %[2]s >>%[1]s/order", dir, name)},
		Env:  []string{"PATH=/bin:/usr/bin"},
	}
}

func TestHooks(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	logDir := filepath.Join(b.dir, "hooklog")
	if err := os.Mkdir(logDir, 0o777); err != nil {
		t.Fatal(err)
	}
	// The container's hooks reach the log at the same path as the host's:
	// before pivot_root through the host's tree, after it through this mount.
	b.spec.Mounts = append(b.spec.Mounts, rspec.Mount{
		Destination: logDir, Type: "bind", Source: logDir, Options: []string{"rbind", "rw"},
	})
	b.spec.Hooks = &rspec.Hooks{
		Prestart:        []rspec.Hook{recordingHook(logDir, "prestart")},
		CreateRuntime:   []rspec.Hook{recordingHook(logDir, "createRuntime")},
		CreateContainer: []rspec.Hook{recordingHook(logDir, "createContainer")},
		StartContainer:  []rspec.Hook{recordingHook(logDir, "startContainer")},
		Poststart:       []rspec.Hook{recordingHook(logDir, "poststart")},
		Poststop:        []rspec.Hook{recordingHook(logDir, "poststop")},
	}
	pid := b.mustCreate().Pid
	b.mustStart()
	if r := b.xrt("kill", b.id, "KILL"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	b.waitStatus(b.id, "stopped")
	if r := b.xrt("delete", b.id); r.code != 0 {
		t.Fatalf("delete: %s", r)
	}

	order, err := os.ReadFile(filepath.Join(logDir, "order"))
	if err != nil {
		t.Fatalf("no hook ran: %v", err)
	}
	want := []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
	if got := strings.Fields(string(order)); !slices.Equal(got, want) {
		t.Errorf("hooks ran in the order %q, want %q", got, want)
	}
	for _, h := range []struct {
		name, status string
		inContainer  bool // runs in the container's namespaces
	}{
		// The validation suite's hooks_stdin wants "created" for prestart
		// (the older spec ran prestart at start); runc says "creating".
		{"prestart", "created", false},
		{"createRuntime", "creating", false},
		{"createContainer", "creating", true},
		{"startContainer", "created", true},
		{"poststart", "running", false},
		{"poststop", "stopped", false},
	} {
		data, err := os.ReadFile(filepath.Join(logDir, h.name+".json"))
		if err != nil {
			t.Errorf("%s hook: %v", h.name, err)
			continue
		}
		var st rspec.State
		if err := json.Unmarshal(data, &st); err != nil {
			t.Errorf("%s hook got %q on stdin: %v", h.name, data, err)
			continue
		}
		if st.ID != b.id || st.Bundle != b.dir || st.Status != rspec.ContainerState(h.status) || st.Version == "" {
			t.Errorf("%s hook: want id %s, bundle %s, status %s and ociVersion, got %s",
				h.name, b.id, b.dir, h.status, data)
		}
		// runc gives the container's hooks the pid as seen inside; the
		// spec asks for the host's.
		if h.name != "poststop" && st.Pid != pid && !(h.inContainer && st.Pid == 1) {
			t.Errorf("%s hook: want pid %d, got %s", h.name, pid, data)
		}
	}
}

// TestFailingPrestartHook runs sequentially: it checks the whole host for
// leftover mounts and processes.
func TestFailingPrestartHook(t *testing.T) {
	b := newBundle(t, "true")
	b.spec.Hooks = &rspec.Hooks{Prestart: []rspec.Hook{{Path: "/bin/false"}}}
	snap := snapshotHost(t, b.root)
	r := b.create()
	if r.code == 0 {
		t.Fatalf("create with a failing prestart hook succeeded: %s", r)
	}
	if !strings.Contains(strings.ToLower(r.stderr), "hook") {
		t.Errorf("want an error naming the hook, got %s", r)
	}
	if exists(filepath.Join(b.root, b.id)) {
		t.Errorf("failed create left state dir %s", filepath.Join(b.root, b.id))
	}
	snap.checkUnchanged(t)
}
