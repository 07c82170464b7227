package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	r := b.create()
	if r.code != 0 {
		t.Fatalf("create: %s", r)
	}

	raw := b.xrt("state", b.id)
	var fields map[string]any
	if err := json.Unmarshal([]byte(raw.stdout), &fields); err != nil {
		t.Fatalf("state is not JSON: %v in %s", err, raw)
	}
	for _, k := range []string{"ociVersion", "id", "status", "pid", "bundle", "rootfs", "created", "owner"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("state lacks %q: %s", k, raw.stdout)
		}
	}
	st := b.mustState(b.id)
	if st.Status != "created" || st.ID != b.id || st.Pid <= 0 {
		t.Fatalf("after create, want status created, id %s and a pid, got %+v", b.id, st)
	}
	if st.Bundle != b.dir {
		t.Errorf("state bundle = %q, want %q", st.Bundle, b.dir)
	}
	if st.Rootfs != b.rootfs("") {
		t.Errorf("state rootfs = %q, want %q", st.Rootfs, b.rootfs(""))
	}
	if _, err := time.Parse(time.RFC3339Nano, st.Created); err != nil {
		t.Errorf("state created %q: %v", st.Created, err)
	}
	if !alive(st.Pid) {
		t.Fatalf("init pid %d of a created container does not exist", st.Pid)
	}
	pid := st.Pid

	b.mustStart()
	st = b.mustState(b.id)
	if st.Status != "running" || st.Pid != pid {
		t.Fatalf("after start, want running with pid %d, got %+v", pid, st)
	}
	if r := b.xrt("start", b.id); r.code == 0 {
		t.Errorf("a second start of a running container succeeded: %s", r)
	}
	if r := b.xrt("delete", b.id); r.code == 0 {
		t.Fatalf("delete of a running container without --force succeeded: %s", r)
	}

	if r := b.xrt("kill", b.id, "KILL"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	b.waitStatus(b.id, "stopped")
	if alive(pid) {
		t.Errorf("init pid %d still alive after the container stopped", pid)
	}

	if r := b.xrt("delete", b.id); r.code != 0 {
		t.Fatalf("delete: %s", r)
	}
	if r := b.xrt("state", b.id); r.code == 0 {
		t.Errorf("state of a deleted container succeeded: %s", r)
	}
	if exists(filepath.Join(b.root, b.id)) {
		t.Errorf("state dir %s left after delete", filepath.Join(b.root, b.id))
	}
	for _, dir := range containerCgroups(b.id) {
		t.Errorf("cgroup %s left after delete", dir)
	}
}

// containerCgroups lists the directories of the container's default cgroup
// (/xrt/ID) in every hierarchy.
func containerCgroups(id string) []string {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*/xrt", id))
	return dirs
}

func TestCgroupWhileRunning(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	b.mustCreate()
	dirs := containerCgroups(b.id)
	if len(dirs) == 0 {
		t.Fatalf("no cgroup /xrt/%s in any hierarchy", b.id)
	}
	if r := b.xrt("delete", "--force", b.id); r.code != 0 {
		t.Fatalf("delete --force: %s", r)
	}
	for _, dir := range containerCgroups(b.id) {
		t.Errorf("cgroup %s left after delete --force", dir)
	}
}

func TestKillSignalForms(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{"SIGKILL", "KILL", "9", "TERM", "SIGTERM", "15"} {
		t.Run(sig, func(t *testing.T) {
			t.Parallel()
			b := trappingBundle(t)
			if r := b.xrt("kill", b.id, sig); r.code != 0 {
				t.Fatalf("kill %s: %s", sig, r)
			}
			b.waitStatus(b.id, "stopped")
		})
	}
	t.Run("default is TERM", func(t *testing.T) {
		t.Parallel()
		b := trappingBundle(t)
		if r := b.xrt("kill", b.id); r.code != 0 {
			t.Fatalf("kill: %s", r)
		}
		b.waitStatus(b.id, "stopped")
	})
	t.Run("created container", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, "sleep", "60")
		b.mustCreate()
		if r := b.xrt("kill", b.id, "9"); r.code != 0 {
			t.Fatalf("kill: %s", r)
		}
		b.waitStatus(b.id, "stopped")
	})
	t.Run("bad signal", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, "sleep", "60")
		b.mustCreate()
		if r := b.xrt("kill", b.id, "NOSUCHSIG"); r.code == 0 {
			t.Fatalf("kill with signal NOSUCHSIG succeeded: %s", r)
		}
		if st := b.mustState(b.id); st.Status != "created" {
			t.Errorf("a failed kill changed the status to %s", st.Status)
		}
	})
}

// trappingBundle runs a container whose sh exits on SIGTERM: as pid 1 of
// its namespace it ignores the signals it does not trap. It returns once
// the trap is set.
func trappingBundle(t *testing.T) *bundle {
	b := newBundle(t, "sh", "-c", "trap 'exit 0' TERM; touch /tmp/ready; while :; do sleep 10 & wait $!; done")
	b.spec.Root.Readonly = false
	b.mustCreate()
	b.mustStart()
	waitFor(t, "the container to trap SIGTERM", func() bool { return exists(b.rootfs("tmp/ready")) })
	return b
}

func TestDeleteForce(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	pid := b.mustCreate().Pid
	b.mustStart()
	if r := b.xrt("delete", "--force", b.id); r.code != 0 {
		t.Fatalf("delete --force: %s", r)
	}
	waitFor(t, "the init of a force-deleted container to exit", func() bool { return !alive(pid) })
	if exists(filepath.Join(b.root, b.id)) {
		t.Errorf("state dir left after delete --force")
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	b.mustCreate()
	second := newID()
	b.cleanup(second)
	if r := b.xrt("create", "--bundle", b.dir, second); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	if r := b.xrt("start", second); r.code != 0 {
		t.Fatalf("start: %s", r)
	}

	r := b.xrt("list", "-q")
	if r.code != 0 {
		t.Fatalf("list -q: %s", r)
	}
	got := strings.Fields(r.stdout)
	want := []string{b.id, second}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("list -q = %q, want %q", got, want)
	}

	r = b.xrt("list", "-f", "json")
	if r.code != 0 {
		t.Fatalf("list -f json: %s", r)
	}
	var list []ociState
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list -f json: %v in %s", err, r)
	}
	status := map[string]string{}
	for _, c := range list {
		status[c.ID] = c.Status
		if c.Pid <= 0 || c.Bundle != b.dir {
			t.Errorf("list entry %+v: want a pid and bundle %s", c, b.dir)
		}
	}
	if want := map[string]string{b.id: "created", second: "running"}; !mapsEqual(status, want) {
		t.Errorf("list -f json statuses = %v, want %v", status, want)
	}

	empty := t.TempDir()
	if r := runXRT(t, runOpts{}, "--root", empty, "list", "-q"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("list -q of an empty root: %s", r)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestPidFile(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	st := b.mustCreate("--pid-file", pidFile)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file holds %q: %v", data, err)
	}
	if pid != st.Pid {
		t.Errorf("pid file says %d, state says %d", pid, st.Pid)
	}
}

func TestSpec(t *testing.T) {
	t.Parallel()
	b := newBundle(t) // newBundle checks the plain `spec` output
	if b.spec.Root.Path != "rootfs" || len(b.spec.Linux.Namespaces) == 0 || len(b.spec.Mounts) == 0 {
		t.Errorf("spec: want root.path rootfs, namespaces and mounts, got root %+v, %d namespaces, %d mounts",
			b.spec.Root, len(b.spec.Linux.Namespaces), len(b.spec.Mounts))
	}
	if r := b.xrt("spec", "--bundle", b.dir); r.code == 0 {
		t.Errorf("spec over an existing config.json succeeded: %s", r)
	}

	dir := t.TempDir()
	if r := b.xrt("spec", "--rootless", "--bundle", dir); r.code != 0 {
		t.Fatalf("spec --rootless: %s", r)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rootless struct {
		Linux struct {
			Namespaces  []struct{ Type string } `json:"namespaces"`
			UIDMappings []struct{ HostID int }  `json:"uidMappings"`
			GIDMappings []struct{ HostID int }  `json:"gidMappings"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(data, &rootless); err != nil {
		t.Fatal(err)
	}
	hasUser := slices.ContainsFunc(rootless.Linux.Namespaces, func(n struct{ Type string }) bool { return n.Type == "user" })
	if !hasUser || len(rootless.Linux.UIDMappings) != 1 || len(rootless.Linux.GIDMappings) != 1 {
		t.Errorf("spec --rootless: want a user namespace and one uid and gid mapping, got %s", data)
	}
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	r := runXRT(t, runOpts{}, "features")
	if r.code != 0 {
		t.Fatalf("features: %s", r)
	}
	var f struct {
		Min       string   `json:"ociVersionMin"`
		Max       string   `json:"ociVersionMax"`
		Hooks     []string `json:"hooks"`
		MountOpts []string `json:"mountOptions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatalf("features: %v in %s", err, r)
	}
	if f.Min == "" || f.Max == "" || len(f.Hooks) == 0 || len(f.MountOpts) == 0 {
		t.Errorf("features lacks ociVersionMin/Max, hooks or mountOptions: %s", r.stdout)
	}
}
