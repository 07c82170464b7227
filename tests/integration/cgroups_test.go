package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits hold: each test gives a real container a limit and watches the
// kernel enforce it, reading the cgroup files the runtime wrote.

// v2Host tells whether /sys/fs/cgroup is a cgroup v2 mount.
func v2Host() bool { return exists("/sys/fs/cgroup/cgroup.controllers") }

// cgroupFile reads one file of the cgroup at path (absolute, as below a
// hierarchy's root): in the controller's v1 hierarchy, or in the v2 one
// under its v2 name.
func cgroupFile(t *testing.T, controller, path, v1name, v2name string) string {
	t.Helper()
	p := filepath.Join("/sys/fs/cgroup", controller, path, v1name)
	if v2Host() {
		p = filepath.Join("/sys/fs/cgroup", path, v2name)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// addApplets links more busybox applets into the bundle's rootfs.
func (b *bundle) addApplets(names ...string) {
	b.t.Helper()
	for _, n := range names {
		if err := os.Symlink("busybox", b.rootfs("bin/"+n)); err != nil && !os.IsExist(err) {
			b.t.Fatal(err)
		}
	}
}

// eventStream runs `xrt events` and hands over its JSON lines.
type eventStream struct {
	lines chan string
	done  chan error // the exit of `xrt events`
}

func startEvents(t *testing.T, b *bundle, args ...string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, requireXRT(t), append([]string{"--root", b.root, "events"}, append(args, b.id)...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &eventStream{lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// next waits for an event of type typ, failing after 20s.
func (s *eventStream) next(t *testing.T, typ string) map[string]any {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("xrt events ended before a %q event", typ)
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("events: not JSON: %q", line)
			}
			if e["type"] == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("no %q event within 20s", typ)
		}
	}
}

func TestMemoryLimitKillsAndEventsReportsOOM(t *testing.T) {
	t.Parallel()
	// The shell waits for /tmp/go, then makes tail hold 300 MiB (it keeps
	// a "line" that never ends) in a cgroup allowed 32 MiB, no swap. The
	// pipeline runs in a subshell that raises its OOM score: the kernel
	// may kill twice before tail's memory is freed, and the second victim
	// must not be the shell that records the status.
	b := newBundle(t, "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; "+
		"(echo 1000 > /proc/self/oom_score_adj; head -c 300m /dev/zero | tail); echo $? > /tmp/rc; sleep 60")
	b.addApplets("tail")
	b.spec.Root.Readonly = false
	limit := int64(32 << 20)
	b.spec.Linux.Resources = &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: &limit}}
	if exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") || v2Host() {
		b.spec.Linux.Resources.Memory.Swap = &limit
	}
	b.mustCreate()
	b.mustStart()
	if got := cgroupFile(t, "memory", "/xrt/"+b.id, "memory.limit_in_bytes", "memory.max"); got != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory limit file = %s, want %d", got, limit)
	}
	events := startEvents(t, b, "--interval", "1s")
	events.next(t, "stats") // events is watching
	if err := os.WriteFile(b.rootfs("tmp/go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := events.next(t, "oom")
	if e["id"] != b.id {
		t.Errorf("oom event for %v, want id %s", e["id"], b.id)
	}
	waitFor(t, "the allocating process to end", func() bool { return exists(b.rootfs("tmp/rc")) })
	rc, _ := os.ReadFile(b.rootfs("tmp/rc"))
	if got := strings.TrimSpace(string(rc)); got != "137" {
		t.Errorf("tail exited %s, want 137 (SIGKILL from the OOM killer)", got)
	}
	// events ends by itself when the container stops.
	if r := b.xrt("kill", b.id, "KILL"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	select {
	case err := <-events.done:
		if err != nil {
			t.Errorf("xrt events after the container stopped: %v", err)
		}
		events.done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Error("xrt events did not end when the container stopped")
	}
}

func TestPidsLimitStopsForkLoop(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sh", "-c", "i=0; while [ $i -lt 50 ]; do sleep 60 & i=$((i+1)); done 2>/tmp/err; : > /tmp/done; wait")
	b.spec.Root.Readonly = false
	b.spec.Linux.Resources = &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: ptr(int64(10))}}
	b.mustCreate()
	b.mustStart()
	b.waitStatus(b.id, "stopped")
	if exists(b.rootfs("tmp/done")) {
		t.Error("the fork loop ran to its end: 50 processes in a cgroup limited to 10")
	}
	errOut, _ := os.ReadFile(b.rootfs("tmp/err"))
	if !strings.Contains(string(errOut), "can't fork") {
		t.Errorf("want the shell to report a failed fork, got %q", errOut)
	}
	if got := cgroupFile(t, "pids", "/xrt/"+b.id, "pids.max", "pids.max"); got != "10" {
		t.Errorf("pids.max = %s, want 10", got)
	}
	// The kernel counts the forks it refused.
	if ev := cgroupFile(t, "pids", "/xrt/"+b.id, "pids.events", "pids.events"); ev == "max 0" || !strings.HasPrefix(ev, "max ") {
		t.Errorf("pids.events = %q, want refused forks counted", ev)
	}
}

func TestCPUFiles(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	b.spec.Linux.Resources = &rspec.LinuxResources{CPU: &rspec.LinuxCPU{
		Quota: ptr(int64(20000)), Period: ptr(uint64(50000)), Shares: ptr(uint64(512)), Cpus: "0", Mems: "0",
	}}
	b.mustCreate()
	path := "/xrt/" + b.id
	if v2Host() {
		if got := cgroupFile(t, "", path, "", "cpu.max"); got != "20000 50000" {
			t.Errorf("cpu.max = %q", got)
		}
		return
	}
	for file, want := range map[string]string{"cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "50000", "cpu.shares": "512"} {
		if got := cgroupFile(t, "cpu", path, file, ""); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	if got := cgroupFile(t, "cpuset", path, "cpuset.cpus", ""); got != "0" {
		t.Errorf("cpuset.cpus = %s, want 0", got)
	}
}

func TestUpdateChangesLimitsLive(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	b.spec.Linux.Resources = &rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: ptr(int64(64 << 20))},
		Pids:   &rspec.LinuxPids{Limit: ptr(int64(50))},
	}
	b.mustCreate()
	b.mustStart()
	path := "/xrt/" + b.id
	memFile := func() string { return cgroupFile(t, "memory", path, "memory.limit_in_bytes", "memory.max") }
	if r := b.xrt("update", "--memory", "128m", "--cpu-quota", "30000", b.id); r.code != 0 {
		t.Fatalf("update: %s", r)
	}
	if got := memFile(); got != strconv.Itoa(128<<20) {
		t.Errorf("memory limit after update = %s, want %d", got, 128<<20)
	}
	if !v2Host() {
		if got := cgroupFile(t, "cpu", path, "cpu.cfs_quota_us", ""); got != "30000" {
			t.Errorf("cpu.cfs_quota_us after update = %s", got)
		}
	}
	// -r - takes linux.resources JSON on stdin.
	r := b.xrtWith(runOpts{stdin: strings.NewReader(`{"pids": {"limit": 7}, "memory": {"limit": 100663296}}`)}, "update", "-r", "-", b.id)
	if r.code != 0 {
		t.Fatalf("update -r -: %s", r)
	}
	if got := cgroupFile(t, "pids", path, "pids.max", "pids.max"); got != "7" {
		t.Errorf("pids.max after update -r = %s, want 7", got)
	}
	// events --stats sees the new limit.
	st := b.xrt("events", "--stats", b.id)
	var e struct {
		Type string
		ID   string
		Data struct {
			Memory struct{ Usage struct{ Limit uint64 } }
			Pids   struct{ Limit uint64 }
		}
	}
	if st.code != 0 || json.Unmarshal([]byte(st.stdout), &e) != nil {
		t.Fatalf("events --stats: %s", st)
	}
	if e.Type != "stats" || e.ID != b.id || e.Data.Memory.Usage.Limit != 96<<20 || e.Data.Pids.Limit != 7 {
		t.Errorf("events --stats: %+v", e)
	}
	// A bad value is refused before anything is written.
	for _, args := range [][]string{{"--memory", "-5"}, {"--pids-limit", "-3"}, {"--cpu-share", "999999999"}, {"--cpu-period", "10"}} {
		r := b.xrt(append(append([]string{"update"}, args...), b.id)...)
		if r.code == 0 || !strings.Contains(r.stderr, strings.TrimPrefix(args[0], "--")[:3]) {
			t.Errorf("update %v: want a failure naming it, got %s", args, r)
		}
	}
	if got := memFile(); got != strconv.Itoa(96<<20) {
		t.Errorf("memory limit changed by refused updates: %s", got)
	}
}

// TestCgroupsPathForms checks absolute and relative linux.cgroupsPath,
// and that delete leaves no directory in any hierarchy.
func TestCgroupsPathForms(t *testing.T) {
	t.Parallel()
	own := map[string]string{}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	for _, tc := range []struct {
		name string
		path func(id string) string
		dir  func(ctrl, id string) string // the container's directory in a hierarchy
	}{
		{"absolute", func(id string) string { return "/xrt-it-abs/" + id },
			func(ctrl, id string) string { return "/xrt-it-abs/" + id }},
		{"relative", func(id string) string { return "xrt-it-rel-" + id },
			func(ctrl, id string) string { return filepath.Join(own[ctrl], "xrt-it-rel-"+id) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if v2Host() {
				t.Skip("the per-hierarchy checks are written for v1")
			}
			t.Cleanup(func() {
				// The parent the absolute path made, after the container's cleanup.
				dirs, _ := filepath.Glob("/sys/fs/cgroup/*/xrt-it-abs")
				for _, d := range dirs {
					_ = os.Remove(d)
				}
			})
			b := newBundle(t, "sleep", "60")
			b.spec.Linux.CgroupsPath = tc.path(b.id)
			b.spec.Linux.Resources = &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr(int64(50 << 20))}}
			st := b.mustCreate()
			var dirs []string
			for _, ctrl := range []string{"memory", "pids", "freezer", "cpu"} {
				dir := filepath.Join("/sys/fs/cgroup", ctrl, tc.dir(ctrl, b.id))
				procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
				if err != nil {
					t.Fatalf("%s: %v", ctrl, err)
				}
				if !strings.Contains(string(procs), strconv.Itoa(st.Pid)) {
					t.Errorf("%s: init %d is not in %s", ctrl, st.Pid, dir)
				}
				dirs = append(dirs, dir)
			}
			if got := cgroupFile(t, "memory", tc.dir("memory", b.id), "memory.limit_in_bytes", ""); got != strconv.Itoa(50<<20) {
				t.Errorf("memory limit = %s", got)
			}
			if r := b.xrt("delete", "--force", b.id); r.code != 0 {
				t.Fatalf("delete: %s", r)
			}
			for _, d := range dirs {
				if exists(d) {
					t.Errorf("%s left after delete", d)
				}
			}
		})
	}
}

// TestCgroupBadInput: a cgroup path outside the hierarchy, negative or
// absurd limits, an unavailable driver: a clear one-line error, a
// non-zero exit, and nothing left (state dir, cgroup, process, mount).
func TestCgroupBadInput(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s *rspec.Spec)
		flags []string // global flags
		match []string
	}{
		{name: "path climbs out", edit: func(s *rspec.Spec) { s.Linux.CgroupsPath = "../../x" },
			match: []string{"cgroupsPath", `climbs out`}},
		{name: "absolute path climbs out", edit: func(s *rspec.Spec) { s.Linux.CgroupsPath = "/../../etc" },
			match: []string{"cgroupsPath", `climbs out`}},
		{name: "systemd form without the flag", edit: func(s *rspec.Spec) { s.Linux.CgroupsPath = "system.slice:xrt:x" },
			match: []string{"cgroupsPath", "--systemd-cgroup"}},
		{name: "systemd driver without systemd", flags: []string{"--systemd-cgroup"},
			match: []string{"systemd", "PID 1 is not systemd"}},
		{name: "negative memory limit", edit: func(s *rspec.Spec) {
			s.Linux.Resources = &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr(int64(-5))}}
		}, match: []string{`memory\.limit`, "-5"}},
		{name: "negative pids limit", edit: func(s *rspec.Spec) {
			s.Linux.Resources = &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: ptr(int64(-10))}}
		}, match: []string{`pids\.limit`}},
		{name: "absurd cpu shares", edit: func(s *rspec.Spec) {
			s.Linux.Resources = &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Shares: ptr(uint64(1 << 40))}}
		}, match: []string{`cpu\.shares`}},
		{name: "absurd cpu period", edit: func(s *rspec.Spec) {
			s.Linux.Resources = &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Period: ptr(uint64(1 << 40))}}
		}, match: []string{`cpu\.period`}},
		{name: "cpus the host lacks", edit: func(s *rspec.Spec) {
			s.Linux.Resources = &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Cpus: "4000-4001"}}
		}, match: []string{`cpu`, "4000-4001"}},
		{name: "swap below memory", edit: func(s *rspec.Spec) {
			s.Linux.Resources = &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(1 << 20))}}
		}, match: []string{`memory\.swap`}},
		{name: "memory limit below what init needs", edit: func(s *rspec.Spec) {
			s.Linux.Resources = &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr(int64(4096))}}
		}, match: []string{"OOM killer", `memory\.limit`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t, "true")
			if tc.edit != nil {
				tc.edit(b.spec)
			}
			b.save()
			mkdir(t, b.root)
			snap := snapshotHost(t, b.root)
			r := b.xrt(append(append([]string{}, tc.flags...), "create", "--bundle", b.dir, b.id)...)
			expectCleanFailure(t, snap, r, tc.match...)
		})
	}
}

// TestSystemdCgroup runs a container under the systemd driver: a scope
// in system.slice holds init, with the limit applied, and delete removes
// it. It needs systemd as PID 1.
func TestSystemdCgroup(t *testing.T) {
	t.Parallel()
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("no systemd (PID 1 is not systemd)")
	}
	b := newBundle(t, "sleep", "60")
	b.spec.Linux.CgroupsPath = "system.slice:xrt-it:" + b.id
	b.spec.Linux.Resources = &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr(int64(40 << 20))}}
	b.save()
	if r := b.xrt("--systemd-cgroup", "create", "--bundle", b.dir, b.id); r.code != 0 {
		t.Fatalf("create --systemd-cgroup: %s", r)
	}
	st := b.mustState(b.id)
	scope := "/system.slice/xrt-it-" + b.id + ".scope"
	procs := filepath.Join("/sys/fs/cgroup", scope, "cgroup.procs")
	if !v2Host() {
		procs = filepath.Join("/sys/fs/cgroup/memory", scope, "cgroup.procs")
	}
	data, err := os.ReadFile(procs)
	if err != nil || !strings.Contains(string(data), strconv.Itoa(st.Pid)) {
		t.Fatalf("init %d not in the scope's cgroup %s: %q %v", st.Pid, procs, data, err)
	}
	if got := cgroupFile(t, "memory", scope, "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(40<<20) {
		t.Errorf("memory limit in the scope = %s", got)
	}
	if r := b.xrt("--systemd-cgroup", "delete", "--force", b.id); r.code != 0 {
		t.Fatalf("delete: %s", r)
	}
	if exists(filepath.Dir(procs)) {
		t.Errorf("%s left after delete", filepath.Dir(procs))
	}
}
