package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ps, pause, resume, kill --all and delete --force against real containers.

// shellWithChildren runs a shell with two background sleeps; the pids of
// all three are what ps must list.
func shellWithChildren(t *testing.T) *bundle {
	b := newBundle(t, "sh", "-c", "sleep 100 & sleep 100 & : > /tmp/ready; wait")
	b.spec.Root.Readonly = false
	b.mustCreate()
	b.mustStart()
	waitFor(t, "the container's children", func() bool { return exists(b.rootfs("tmp/ready")) })
	return b
}

func psPids(t *testing.T, b *bundle) []int {
	t.Helper()
	r := b.xrt("ps", "--format", "json", b.id)
	if r.code != 0 {
		t.Fatalf("ps -f json: %s", r)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
		t.Fatalf("ps -f json: %v in %s", err, r)
	}
	return pids
}

func TestPs(t *testing.T) {
	t.Parallel()
	b := shellWithChildren(t)
	init := b.mustState(b.id).Pid
	var pids []int
	waitFor(t, "three processes", func() bool { pids = psPids(t, b); return len(pids) == 3 })
	if !slices.Contains(pids, init) {
		t.Errorf("ps -f json %v lacks init %d", pids, init)
	}
	for _, p := range pids {
		if p != init {
			stat, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
			if !strings.HasPrefix(string(stat), "sleep") {
				t.Errorf("pid %d is %q, want a sleep of the container", p, stat)
			}
		}
	}
	// The table is ps(1)'s, filtered to the container.
	r := b.xrt("ps", b.id)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.Contains(lines[0], "PID") {
		t.Fatalf("ps: want a header and 3 lines, got %s", r)
	}
	// ps(1) options after the id; PID kept wherever it is.
	r = b.xrt("ps", b.id, "-o", "comm,pid")
	if r.code != 0 || strings.Count(r.stdout, "sleep") != 2 || !strings.Contains(r.stdout, strconv.Itoa(init)) {
		t.Errorf("ps -o comm,pid: %s", r)
	}
	if r := b.xrt("ps", b.id, "-o", "comm"); r.code == 0 || !strings.Contains(r.stderr, "PID") {
		t.Errorf("ps without a PID column: want an error naming it, got %s", r)
	}
	if r := b.xrt("ps", "-f", "yaml", b.id); r.code == 0 {
		t.Errorf("ps -f yaml: want an error, got %s", r)
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	b := shellWithChildren(t)
	if r := b.xrt("resume", b.id); r.code == 0 || !strings.Contains(r.stderr, "not paused") {
		t.Errorf("resume of a running container: want an error, got %s", r)
	}
	if r := b.xrt("pause", b.id); r.code != 0 {
		t.Fatalf("pause: %s", r)
	}
	if st := b.mustState(b.id); st.Status != "paused" {
		t.Errorf("state after pause: %s", st.Status)
	}
	// Every process is stopped by the freezer (state D or the freezer's own).
	for _, p := range psPids(t, b) {
		if frozen := processFrozen(t, p); !frozen {
			t.Errorf("pid %d is not frozen", p)
		}
	}
	if r := b.xrt("pause", b.id); r.code == 0 {
		t.Errorf("pause of a paused container: want an error, got %s", r)
	}
	if r := b.xrt("resume", b.id); r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	if st := b.mustState(b.id); st.Status != "running" {
		t.Errorf("state after resume: %s", st.Status)
	}
	for _, p := range psPids(t, b) {
		if processFrozen(t, p) {
			t.Errorf("pid %d still frozen after resume", p)
		}
	}
}

// processFrozen reads the freezer's view of one process: v1's
// freezer.state of its cgroup, or v2's cgroup.events.
func processFrozen(t *testing.T, pid int) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "freezer" {
			s, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", parts[2], "freezer.state"))
			return strings.TrimSpace(string(s)) == "FROZEN"
		}
		if v2Host() && parts[0] == "0" {
			s, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[2], "cgroup.events"))
			return strings.Contains(string(s), "frozen 1")
		}
	}
	t.Fatalf("pid %d: no freezer cgroup", pid)
	return false
}

func TestDeleteForcePaused(t *testing.T) {
	t.Parallel()
	b := shellWithChildren(t)
	pids := psPids(t, b)
	if r := b.xrt("pause", b.id); r.code != 0 {
		t.Fatalf("pause: %s", r)
	}
	if r := b.xrt("delete", b.id); r.code == 0 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("delete without --force of a paused container: want an error, got %s", r)
	}
	if r := b.xrt("delete", "--force", b.id); r.code != 0 {
		t.Fatalf("delete --force: %s", r)
	}
	for _, p := range pids {
		waitFor(t, "pid "+strconv.Itoa(p)+" to die", func() bool { return !alive(p) })
	}
	if exists(filepath.Join(b.root, b.id)) {
		t.Error("state dir left")
	}
	for _, d := range containerCgroups(b.id) {
		t.Errorf("cgroup %s left", d)
	}
}

func TestKillAllPaused(t *testing.T) {
	t.Parallel()
	for _, all := range []bool{true, false} {
		name := "init"
		if all {
			name = "all"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := shellWithChildren(t)
			pids := psPids(t, b)
			if r := b.xrt("pause", b.id); r.code != 0 {
				t.Fatalf("pause: %s", r)
			}
			args := []string{"kill", b.id, "KILL"}
			if all {
				args = []string{"kill", "--all", b.id, "KILL"}
			}
			if r := b.xrt(args...); r.code != 0 {
				t.Fatalf("%v: %s", args, r)
			}
			// Killed processes must not stay held by the freezer.
			for _, p := range pids {
				waitFor(t, "pid "+strconv.Itoa(p)+" to die", func() bool { return !alive(p) })
			}
			b.waitStatus(b.id, "stopped")
			if r := b.xrt("delete", b.id); r.code != 0 {
				t.Errorf("delete: %s", r)
			}
		})
	}
}

func TestCommandsOnStoppedOrUnknown(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "true")
	b.mustCreate()
	b.mustStart()
	b.waitStatus(b.id, "stopped")
	for _, args := range [][]string{
		{"pause"}, {"resume"}, {"ps"}, {"events", "--stats"}, {"events"}, {"update", "--memory", "10m"},
	} {
		for _, id := range []string{b.id, "no-such-container-r2"} {
			r := b.xrt(append(args, id)...)
			if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, id) {
				t.Errorf("%v %s: want a one-line error naming the container, got %s", args, id, r)
			}
		}
	}
}
