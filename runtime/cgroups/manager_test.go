package cgroups

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// These tests create real cgroups and need root; the v1 ones need a v1 or
// hybrid host, the v2 ones the unified hierarchy a hybrid host mounts at
// /sys/fs/cgroup/unified (which has no controllers: only what v2 does
// without controllers is tested there).

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
}

func needV1(t *testing.T) {
	t.Helper()
	needRoot(t)
	if m := cgroups.Mode(); m != cgroups.Legacy && m != cgroups.Hybrid {
		t.Skip("not a cgroup v1 host")
	}
}

func testName(t *testing.T, kind string) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "xrt-test-" + kind + "-" + hex.EncodeToString(b)
}

// fixture owns a manager and the processes a test puts in it, and cleans
// both up even when the test fails.
type fixture struct {
	t    *testing.T
	m    Manager
	cmds []*exec.Cmd
}

func newFixture(t *testing.T, m Manager) *fixture {
	f := &fixture{t: t, m: m}
	t.Cleanup(func() {
		_ = m.Thaw() // a frozen process cannot die
		for _, c := range f.cmds {
			if c.ProcessState == nil {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		}
		if err := m.Delete(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, d := range leftovers(t, m.Path()) {
			_ = removeTree(d)
		}
	})
	return f
}

// start runs a shell script that first waits for a line on its stdin,
// so the test can place it in the cgroup before it does anything.
func (f *fixture) start(script string) (*exec.Cmd, io.WriteCloser) {
	f.t.Helper()
	c := exec.Command("/bin/busybox", "sh", "-c", "read go; "+script)
	in, err := c.StdinPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.cmds = append(f.cmds, c)
	return c, in
}

// leftovers lists the directories of a cgroup path that exist in any
// hierarchy under /sys/fs/cgroup.
func leftovers(t *testing.T, path string) []string {
	loc, err := parseLocation(path)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{loc.path}
	if loc.byHierarchy != nil {
		paths = paths[:0]
		for _, p := range loc.byHierarchy {
			paths = append(paths, p)
		}
	}
	var out []string
	for _, p := range paths {
		for _, pattern := range []string{mountRoot + p, mountRoot + "/*" + p} {
			m, _ := filepath.Glob(pattern)
			for _, d := range m {
				if st, err := os.Stat(d); err == nil && st.IsDir() && d != mountRoot {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

func wantFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}

// procState is the state letter in /proc/PID/status.
func procState(t *testing.T, pid int) string {
	f, err := os.Open("/proc/" + itoa(uint64(pid)) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "State:"); ok {
			return strings.Fields(v)[0]
		}
	}
	t.Fatalf("no State in /proc/%d/status", pid)
	return ""
}

// waitState waits for a process to reach one of states: the kernel
// freezes and thaws tasks asynchronously.
func waitState(t *testing.T, pid int, states ...string) {
	t.Helper()
	var s string
	for range 200 {
		if s = procState(t, pid); slices.Contains(states, s) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("pid %d is in state %s, want one of %v", pid, s, states)
}

func TestV1Lifecycle(t *testing.T) {
	needV1(t)
	path := "/" + testName(t, "life")
	m, err := New(path, "unused")
	if err != nil {
		t.Fatal(err)
	}
	if m.Path() != path {
		t.Fatalf("Path() = %q, want %q", m.Path(), path)
	}
	f := newFixture(t, m)
	child, _ := f.start("")
	pid := child.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	r := &rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: ptr[int64](64 << 20)},
		Pids:   &rspec.LinuxPids{Limit: ptr[int64](10)},
		CPU:    &rspec.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0"},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	root := mountRoot
	wantFile(t, root+"/memory"+path+"/memory.limit_in_bytes", "67108864")
	wantFile(t, root+"/pids"+path+"/pids.max", "10")
	wantFile(t, root+"/cpu"+path+"/cpu.shares", "512")
	wantFile(t, root+"/cpu"+path+"/cpu.cfs_quota_us", "50000")
	wantFile(t, root+"/cpu"+path+"/cpu.cfs_period_us", "100000")
	wantFile(t, root+"/cpuset"+path+"/cpuset.cpus", "0")

	// The process is in the cgroup of every hierarchy it has.
	b, err := os.ReadFile("/proc/" + itoa(uint64(pid)) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	own, err := parseProcCgroup(b)
	if err != nil {
		t.Fatal(err)
	}
	for h, p := range own {
		if p != path {
			t.Errorf("hierarchy %s: process in %q, want %q", h, p, path)
		}
	}
	if cgroups.Mode() == cgroups.Hybrid && own[unifiedName] != path {
		t.Errorf("hybrid host: not placed in the unified hierarchy: %v", own)
	}

	procs, err := m.Procs()
	if err != nil || !slices.Contains(procs, pid) {
		t.Fatalf("Procs() = %v, %v; want %d in it", procs, err, pid)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, root+"/freezer"+path+"/freezer.state", "FROZEN")
	waitState(t, pid, "D", "T") // Linux 6.1+ shows frozen tasks as D
	if p, err := m.Paused(); err != nil || !p {
		t.Errorf("Paused() = %v, %v after Freeze", p, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, root+"/freezer"+path+"/freezer.state", "THAWED")
	waitState(t, pid, "S")
	if p, err := m.Paused(); err != nil || p {
		t.Errorf("Paused() = %v, %v after Thaw", p, err)
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current < 1 || st.Pids.Limit != 10 || st.Memory.Usage.Limit != 64<<20 || st.CPU.Usage.Total == 0 {
		t.Errorf("Stats() = %+v", st)
	}

	// A later process reopens it from the saved path.
	l, err := Load(m.Path())
	if err != nil {
		t.Fatal(err)
	}
	if procs, err := l.Procs(); err != nil || !slices.Contains(procs, pid) {
		t.Errorf("loaded Procs() = %v, %v", procs, err)
	}

	if err := m.Delete(); err == nil {
		t.Error("Delete removed a cgroup with a live process in it")
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, path); len(left) > 0 {
		t.Fatalf("directories left after Delete: %v", left)
	}
	if err := l.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestV1Update(t *testing.T) {
	needV1(t)
	path := "/" + testName(t, "update")
	m, err := New(path, "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, m)
	// Memory used after joining is charged to the cgroup (checkBeforeUpdate).
	child, in := f.start(`x=$(dd if=/dev/zero bs=1M count=8 2>/dev/null | tr '\0' a); echo ready; sleep 1000`)
	if err := m.Apply(child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	dir := mountRoot + "/memory" + path
	hasSwap := exists(dir + "/memory.memsw.limit_in_bytes")
	steps := []struct {
		name         string
		limit, swap  int64
		wantL, wantS string
	}{
		{"start", 64 << 20, 128 << 20, "67108864", "134217728"},
		{"raise both: swap first", 256 << 20, 512 << 20, "268435456", "536870912"},
		{"lower both: limit first", 32 << 20, 32 << 20, "33554432", "33554432"},
		{"unlimited", -1, -1, "9223372036854771712", "9223372036854771712"},
	}
	for _, s := range steps {
		mem := &rspec.LinuxMemory{Limit: ptr(s.limit)}
		if hasSwap {
			mem.Swap = ptr(s.swap)
		}
		if err := m.Set(&rspec.LinuxResources{Memory: mem}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		wantFile(t, dir+"/memory.limit_in_bytes", s.wantL)
		if hasSwap {
			wantFile(t, dir+"/memory.memsw.limit_in_bytes", s.wantS)
		}
	}
	if err := m.Set(&rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: ptr[int64](-1)}}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, mountRoot+"/pids"+path+"/pids.max", "max")
	// checkBeforeUpdate refuses a limit below what is in use.
	in.Write([]byte("go\n"))
	for i := 0; readFlatKeyed(dir, "memory.stat")["rss"] < 8<<20; i++ {
		if i == 500 {
			t.Fatalf("the child did not allocate: %v", readFlatKeyed(dir, "memory.stat"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = m.Set(&rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](4096), CheckBeforeUpdate: ptr(true)}})
	if err == nil || !strings.Contains(err.Error(), "checkBeforeUpdate") {
		t.Fatalf("err = %v, want a checkBeforeUpdate refusal", err)
	}
}

func TestV1Devices(t *testing.T) {
	needV1(t)
	m, err := New("/"+testName(t, "dev"), "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, m)
	// /dev/null (1:3) is allowed, /dev/urandom (1:9) is not.
	child, in := f.start(`echo > /dev/null || exit 3; if head -c1 /dev/urandom >/dev/null 2>&1; then exit 4; fi; exit 0`)
	if err := m.Apply(child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	rules := []rspec.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "rwm"), dev(true, "c", 1, 5, "r")}
	if err := m.Set(&rspec.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, mountRoot+"/devices"+m.Path()+"/devices.list", "c 1:3 rwm\nc 1:5 r")
	in.Write([]byte("go\n"))
	if err := child.Wait(); err != nil {
		t.Fatalf("device access in the container: %v (exit 3: allowed device refused, 4: denied device opened)", err)
	}
}

func TestV1MissingControllers(t *testing.T) {
	needV1(t)
	m, err := New("/"+testName(t, "missing"), "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, m)
	child, _ := f.start("")
	if err := m.Apply(child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		controller string
		r          *rspec.LinuxResources
		want       string
	}{
		{"net_cls", &rspec.LinuxResources{Network: &rspec.LinuxNetwork{ClassID: ptr[uint32](0x100001)}}, "linux.resources.network.classID: the net_cls cgroup controller is not mounted"},
		{"net_prio", &rspec.LinuxResources{Network: &rspec.LinuxNetwork{Priorities: []rspec.LinuxInterfacePriority{{Name: "eth0", Priority: 1}}}}, "network.priorities: the net_prio"},
		{"hugetlb", &rspec.LinuxResources{HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}, "hugepageLimits: the hugetlb"},
		{"", &rspec.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, "linux.resources.unified: needs cgroup v2"},
		{"rdma", &rspec.LinuxResources{Rdma: map[string]rspec.LinuxRdma{"mlx5_0": {HcaHandles: ptr[uint32](1)}}}, "linux.resources.rdma: the rdma cgroup controller is not mounted"},
	}
	for _, tt := range tests {
		if tt.controller != "" && exists(mountRoot+"/"+tt.controller) {
			t.Logf("%s is mounted here: not a missing controller", tt.controller)
			continue
		}
		err := m.Set(tt.r)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrNotSupported) {
			t.Errorf("err = %v, want ErrNotSupported with %q", err, tt.want)
		}
	}
}

func TestV1RelativePath(t *testing.T) {
	needV1(t)
	rel := testName(t, "rel")
	m, err := New(rel, "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, m)
	child, _ := f.start("")
	pid := child.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	own, err := ownCgroups()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/" + itoa(uint64(pid)) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseProcCgroup(b)
	if err != nil {
		t.Fatal(err)
	}
	for h, base := range own {
		if want := strings.TrimSuffix(base, "/") + "/" + rel; got[h] != want {
			t.Errorf("hierarchy %s: process in %q, want %q (under our own %q)", h, got[h], want, base)
		}
	}
	l, err := Load(m.Path())
	if err != nil {
		t.Fatal(err)
	}
	if procs, err := l.Procs(); err != nil || !slices.Contains(procs, pid) {
		t.Errorf("loaded from %q: Procs() = %v, %v", m.Path(), procs, err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, m.Path()); len(left) > 0 {
		t.Fatalf("directories left after Delete: %v", left)
	}
}

func TestV1OOM(t *testing.T) {
	needV1(t)
	m, err := New("/"+testName(t, "oom"), "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, m)
	// The shell keeps 200MB of text in a variable under a 32MB limit.
	child, in := f.start(`x=$(dd if=/dev/zero bs=1M count=200 2>/dev/null | tr '\0' a); echo survived`)
	if err := m.Apply(child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	mem := &rspec.LinuxMemory{Limit: ptr[int64](32 << 20)}
	if exists(mountRoot + "/memory" + m.Path() + "/memory.memsw.limit_in_bytes") {
		mem.Swap = ptr[int64](32 << 20)
	}
	if err := m.Set(&rspec.LinuxResources{Memory: mem}); err != nil {
		t.Fatal(err)
	}
	n, err := m.OOM()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got := make(chan error, 1)
	go func() { got <- n.Wait() }()
	in.Write([]byte("go\n"))
	err = child.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v, want killed by SIGKILL", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("OOM Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("no OOM event within 5s")
	}
	ctl := readFlatKeyed(mountRoot+"/memory"+m.Path(), "memory.oom_control")
	if ctl["oom_kill"] == 0 {
		t.Errorf("memory.oom_control counts no OOM kill: %v", ctl)
	}
	// Removing the cgroup ends the notifier. The pipeline's other
	// processes may outlive the shell for a moment.
	procs, _ := m.Procs()
	for _, p := range procs {
		_ = unix.Kill(p, unix.SIGKILL)
	}
	n2, err := m.OOM()
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	go func() { got <- n2.Wait() }()
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != io.EOF {
			t.Errorf("Wait after Delete = %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Wait did not end when the cgroup was removed")
	}
}

// TestV2Unified runs the v2 manager on the unified hierarchy of a hybrid
// host: placement, freezing, core files, the eBPF device filter and
// deletion work there; resource controllers are all bound to v1, so Set
// must report them missing.
func TestV2Unified(t *testing.T) {
	needRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs(hybridRoot, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("no cgroup v2 hierarchy at " + hybridRoot)
	}
	group := "/" + testName(t, "v2")
	m, err := newV2(hybridRoot, location{path: group})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, m)
	child, in := f.start(`echo > /dev/null || exit 3; if head -c1 /dev/urandom >/dev/null 2>&1; then exit 4; fi; exit 0`)
	pid := child.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/" + itoa(uint64(pid)) + "/cgroup")
	if own, _ := parseProcCgroup(b); own[unifiedName] != group {
		t.Errorf("process in %q, want %q", own[unifiedName], group)
	}
	if procs, err := m.Procs(); err != nil || !slices.Contains(procs, pid) {
		t.Errorf("Procs() = %v, %v", procs, err)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if p, err := m.Paused(); err != nil || !p {
		t.Errorf("Paused() = %v, %v after Freeze", p, err)
	}
	waitState(t, pid, "D", "T", "S") // v2 freezing shows as S on some kernels
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if p, err := m.Paused(); err != nil || p {
		t.Errorf("Paused() = %v, %v after Thaw", p, err)
	}

	err = m.Set(&rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: ptr[int64](64 << 20)}})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "memory.limit: the memory controller is not available") {
		t.Errorf("err = %v, want the memory controller reported missing", err)
	}
	if err := m.Set(&rspec.LinuxResources{Unified: map[string]string{"cgroup.max.descendants": "3"}}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, hybridRoot+group+"/cgroup.max.descendants", "3")

	// A second Set replaces the device filter instead of stacking on it.
	if err := m.Set(&rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{denyAll}}); err != nil {
		t.Fatal(err)
	}
	rules := []rspec.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "rwm")}
	if err := m.Set(&rspec.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	if n := attachedDevicePrograms(t, hybridRoot+group); n != 1 {
		t.Errorf("%d device programs attached, want 1", n)
	}
	in.Write([]byte("go\n"))
	if err := child.Wait(); err != nil {
		t.Errorf("device access in the container: %v (exit 3: allowed device refused, 4: denied device opened)", err)
	}
	if _, err := m.Stats(); err != nil {
		t.Errorf("Stats(): %v", err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if exists(hybridRoot + group) {
		t.Fatal("cgroup left after Delete")
	}
}
