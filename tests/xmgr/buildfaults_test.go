package xmgr

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// This file proves the rule of docs/build.md for failed and interrupted
// builds: no container, mount, temp snapshot, temp directory, half-written
// image, veth, IP reservation or iptables rule is left, and the store
// stays consistent (every image inspects and has all its layers).

// faultEnv is a daemon with the busybox base loaded and the baseline of
// its host-wide state (iptables) taken.
type faultEnv struct {
	*env
	rules map[string]int // iptables-save lines naming the daemon's bridge or subnet

	mu      sync.Mutex
	outputs []func() string // of every build, for the step containers' IDs
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	e := &faultEnv{env: newDaemon(t)}
	// Runs before the daemon stops: what a failing test left running
	// must not outlive it (the daemon leaves containers running when it
	// stops, by design).
	t.Cleanup(e.reap)
	e.ok("load", "-i", fidelityBaseTar(t))
	e.rules = e.bridgeRules()
	return e
}

// reap removes every container of the daemon, then kills what is left of
// its shims' process trees and removes their cgroups.
func (e *faultEnv) reap() {
	if e.cmd != nil {
		if r := e.xmgr("ps", "-aq"); r.code == 0 {
			for _, id := range strings.Fields(r.out) {
				e.xmgr("rm", "-f", id)
			}
		}
	}
	parent := map[int]int{}
	var shims []int
	ids := map[int]string{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
		cl, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "cmdline"))
		args := strings.Split(string(cl), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "xrt-shim") && strings.Contains(string(cl), e.dir) {
			shims = append(shims, pid)
			for i, a := range args {
				if a == "--id" && i+1 < len(args) {
					ids[pid] = args[i+1]
				}
			}
		}
	}
	descends := func(pid, root int) bool {
		for n := 0; pid > 1 && n < 64; n++ {
			if pid == root {
				return true
			}
			pid = parent[pid]
		}
		return false
	}
	for _, s := range shims {
		for pid := range parent {
			if pid != s && descends(pid, s) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = syscall.Kill(s, syscall.SIGKILL)
	}
	if len(shims) > 0 {
		time.Sleep(500 * time.Millisecond)
	}
	// Cgroups of the shims' containers and of any step container the
	// builds printed (empty ones only: rmdir fails on a busy cgroup).
	var globs []string
	for _, id := range ids {
		globs = append(globs, "/sys/fs/cgroup/*/xmgr/"+id)
	}
	for _, id := range e.stepIDs() {
		globs = append(globs, "/sys/fs/cgroup/*/xmgr/"+id+"*")
	}
	for _, g := range globs {
		dirs, _ := filepath.Glob(g)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}

// record keeps a build's output for the IDs of its step containers.
func (e *faultEnv) record(out func() string) {
	e.mu.Lock()
	e.outputs = append(e.outputs, out)
	e.mu.Unlock()
}

var runningInRe = regexp.MustCompile(`Running in ([0-9a-f]{12})`)

// stepIDs are the short IDs of every step container the builds printed.
func (e *faultEnv) stepIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for _, o := range e.outputs {
		for _, m := range runningInRe.FindAllStringSubmatch(o(), -1) {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// subnetPrefix is "10.a.b." of the daemon's /24.
func (e *env) subnetPrefix() string { return strings.TrimSuffix(e.bip, "0/24") }

// bridgeRules counts the iptables lines that name the daemon's bridge or
// an address of its subnet.
func (e *env) bridgeRules() map[string]int {
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		e.t.Fatalf("iptables-save: %v", err)
	}
	m := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, e.bridge) || strings.Contains(l, e.subnetPrefix()) {
			m[l]++
		}
	}
	return m
}

// buildIn runs `xmgr build` in dir with the Dockerfile on stdin when df
// is not "" (then the context is dir, or none when dir is "").
func (e *faultEnv) buildIn(dir, df string, args ...string) result {
	e.t.Helper()
	full := append([]string{"-H", e.host, "build"}, args...)
	switch {
	case df != "" && dir != "":
		full = append(full, "-f", "-", ".")
	case df != "":
		full = append(full, "-")
		dir = e.dir
	default:
		full = append(full, ".")
	}
	r := runIn(e.t, dir, df, []string{"XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG=" + e.config}, xmgrBin, full...)
	e.record(func() string { return r.out + r.err })
	return r
}

// problems lists what breaks the rule, each naming what was left and
// where; markers are strings no process's command line may hold.
func (e *faultEnv) problems(markers ...string) []string {
	var p []string
	add := func(f string, a ...any) { p = append(p, fmt.Sprintf(f, a...)) }

	// Containers.
	if r := e.xmgr("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}} {{.Command}}"); r.code != 0 {
		add("xmgr ps -a: %s", r)
	} else if s := strings.TrimSpace(r.out); s != "" {
		add("containers left (xmgr ps -a):\n%s", s)
	}

	// Mounts under the daemon's roots.
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (under(f[4], e.data) || under(f[4], e.exec)) {
			add("mount left: %s", f[4])
		}
	}

	// Build temp directories.
	tmp := filepath.Join(e.data, "tmp", "build")
	if ents, err := os.ReadDir(tmp); err != nil && !os.IsNotExist(err) {
		add("reading %s: %v", tmp, err)
	} else {
		for _, d := range ents {
			add("left under %s: %s", tmp, d.Name())
		}
	}

	// Images: each one listed inspects, and its layers' snapshots exist.
	want := map[string]string{} // snapshot key -> image that needs it
	r := e.xmgr("images", "-a", "--no-trunc", "--format", "{{.ID}}")
	if r.code != 0 {
		add("xmgr images -a: %s", r)
	}
	for _, id := range strings.Fields(r.out) {
		ir := e.xmgr("inspect", "--type", "image", "--format", "{{json .RootFS.Layers}}", id)
		if ir.code != 0 {
			add("image %s is listed but inspect fails: %s", id, ir)
			continue
		}
		var diffIDs []digest.Digest
		if err := json.Unmarshal([]byte(ir.out), &diffIDs); err != nil {
			add("image %s: its layers %q: %v", id, ir.out, err)
			continue
		}
		var chain digest.Digest
		for _, d := range diffIDs {
			if chain == "" {
				chain = d
			} else {
				chain = digest.FromString(chain.String() + " " + d.String())
			}
			want[chain.String()] = id
		}
	}
	snaps, bad := snapshotKeys(filepath.Join(e.data, "snapshots", "overlay2"))
	p = append(p, bad...)
	for key := range want {
		if _, ok := snaps[key]; !ok {
			add("image %s: its layer snapshot %s is missing", want[key], key)
		}
	}
	for key, dir := range snaps {
		if _, ok := want[key]; !ok {
			add("snapshot %q (%s) belongs to no image", key, dir)
		}
	}

	// Network: veths on the bridge, endpoints, IP reservations, netns,
	// iptables rules.
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", e.bridge).Output(); len(out) > 0 {
		add("veths left on %s:\n%s", e.bridge, out)
	}
	for _, d := range []string{filepath.Join(e.data, "network", "endpoints"), filepath.Join(e.exec, "netns")} {
		ents, _ := os.ReadDir(d)
		for _, x := range ents {
			add("left in %s: %s", d, x.Name())
		}
	}
	ipams, _ := filepath.Glob(filepath.Join(e.data, "network", "ipam", "*", e.subnetPrefix()+"*"))
	for _, f := range ipams {
		b, _ := os.ReadFile(f)
		add("IP still reserved: %s (%s)", f, strings.TrimSpace(string(b)))
	}
	now := e.bridgeRules()
	for l, n := range now {
		if was := e.rules[l]; n > was {
			add("iptables rule added (%d -> %d): %s", e.rules[l], n, l)
		}
	}

	// Per step container: cgroups and iptables rules naming it.
	rules, _ := exec.Command("iptables-save").Output()
	for _, id := range e.stepIDs() {
		if cg, _ := filepath.Glob("/sys/fs/cgroup/*/xmgr/" + id + "*"); len(cg) > 0 {
			add("cgroups of step container %s left: %v", id, cg)
		}
		if strings.Contains(string(rules), id) {
			add("iptables rules name step container %s", id)
		}
	}

	// Processes: a shim or container process of this daemon, or one
	// holding a marker.
	daemon := 0
	if e.cmd != nil && e.cmd.Process != nil {
		daemon = e.cmd.Process.Pid
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if pid == daemon || pid == os.Getpid() {
			continue
		}
		if strings.Contains(cmd, e.exec) || strings.Contains(cmd, e.data) {
			add("process %d of this daemon left: %s", pid, cmd)
			continue
		}
		for _, m := range markers {
			if strings.Contains(cmd, m) {
				add("process %d left: %s", pid, cmd)
			}
		}
	}
	return p
}

func under(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// snapshotKeys reads the overlay driver's index: key -> directory of every
// snapshot; bad lists what is not a complete snapshot.
func snapshotKeys(root string) (map[string]string, []string) {
	keys := map[string]string{}
	var bad []string
	ents, err := os.ReadDir(root)
	if err != nil {
		return keys, []string{fmt.Sprintf("reading the snapshots at %s: %v", root, err)}
	}
	for _, d := range ents {
		if d.Name() == "l" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, d.Name(), "meta.json"))
		if err != nil {
			bad = append(bad, fmt.Sprintf("snapshot directory without a record: %s (%v)", filepath.Join(root, d.Name()), err))
			continue
		}
		var rec struct {
			Key  string
			Kind any
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			bad = append(bad, fmt.Sprintf("snapshot record %s: %v", d.Name(), err))
			continue
		}
		if strings.HasPrefix(rec.Key, "build-") {
			bad = append(bad, fmt.Sprintf("temp build snapshot left: %s (%s, kind %v)", rec.Key, d.Name(), rec.Kind))
		}
		keys[rec.Key] = d.Name()
	}
	return keys, bad
}

// vethGrace is how long a veth may outlive its container. The network
// manager's Release leaves the veth to the kernel, which deletes it with
// the namespace in a deferred work item (cleanup_net): seconds later when
// the machine is busy. A veth still there after this is a leak.
const vethGrace = 30 * time.Second

// assertClean fails the test with every problem unless the daemon is
// clean within d (0: now); veths get vethGrace.
func (e *faultEnv) assertClean(t *testing.T, d time.Duration, markers ...string) {
	t.Helper()
	t0 := time.Now()
	vethWait := false
	for {
		p := e.problems(markers...)
		if len(p) == 0 {
			if vethWait {
				t.Logf("clean after %v: veths outlived their containers until the kernel destroyed their namespaces", time.Since(t0).Round(time.Millisecond))
			}
			return
		}
		onlyVeths := true
		for _, s := range p {
			onlyVeths = onlyVeths && strings.HasPrefix(s, "veths left on ")
		}
		limit := d
		if onlyVeths {
			limit = max(d, vethGrace)
			vethWait = vethWait || time.Since(t0) > d
		}
		if time.Since(t0) > limit {
			for _, s := range p {
				t.Errorf("%s", s)
			}
			if h := e.vethHolders(); h != "" {
				t.Logf("what holds the namespaces of the veths left:\n%s", h)
			}
			e.logAbout(t, p)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var shortIDRe = regexp.MustCompile(`\b[0-9a-f]{12}`)

// logAbout logs the daemon's log lines that name a container the
// problems name (the harness shows only the log's tail).
func (e *faultEnv) logAbout(t *testing.T, problems []string) {
	t.Helper()
	ids := map[string]bool{}
	for _, p := range problems {
		for _, id := range shortIDRe.FindAllString(p, -1) {
			ids[id] = true
		}
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "daemon.log"))
	if err != nil || len(ids) == 0 {
		return
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "/json status=200") || strings.Contains(l, "path=/_ping") {
			continue
		}
		for id := range ids {
			if strings.Contains(l, id) {
				lines = append(lines, l)
				break
			}
		}
	}
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	if len(lines) > 0 {
		t.Logf("the daemon's log about %v:\n%s", sortedSet(ids), strings.Join(lines, "\n"))
	}
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeFiles makes a directory of files (name -> content).
func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildFaultErrors: builds that fail at a step (a RUN's exit code, a
// COPY or ADD that cannot find its source, a bad instruction, a base
// image that cannot be pulled) fail with the line and a clear message,
// and leave nothing.
func TestBuildFaultErrors(t *testing.T) {
	e := newFaultEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	// A port nothing listens on: a registry that cannot be reached.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "outside"), []byte("outside\n"), 0o644)
	ctx := writeFiles(t, filepath.Join(root, "ctx"), map[string]string{"here.txt": "here\n"})

	cases := []struct {
		name, df string
		code     int      // 0: any non-zero
		want     []string // in stderr
		timeout  time.Duration
	}{
		{"run exit 7", "FROM busybox\nRUN echo before > /before\nRUN echo failing; exit 7\n", 7,
			[]string{"Dockerfile:3: ", "The command '/bin/sh -c echo failing; exit 7' returned a non-zero code: 7"}, 0},
		{"copy missing", "FROM busybox\nCOPY here.txt /\nCOPY nothere.txt /\n", 0,
			[]string{"Dockerfile:3: ", "nothere.txt"}, 0},
		{"copy outside", "FROM busybox\nCOPY ../outside /\n", 0,
			[]string{"Dockerfile:2: ", "outside the build context"}, 0},
		{"add url 404", "FROM busybox\nADD " + srv.URL + "/missing.txt /\n", 0,
			[]string{"Dockerfile:2: ", "404", "/missing.txt"}, 0},
		{"unknown instruction", "FROM busybox\nRUN true\nFOO bar\n", 0,
			[]string{"Dockerfile", "3", "unknown instruction: FOO"}, 0},
		{"from unreachable registry", "FROM " + closed + "/h7/nothere:1\nRUN true\n", 0,
			[]string{"Dockerfile:1: ", closed + "/h7/nothere", "connection refused"}, 0},
		{"from missing image", "FROM h7-nothere-image:1\nRUN true\n", 0,
			[]string{"Dockerfile:1: ", "h7-nothere-image"}, 60 * time.Second},
		{"from stage then run fails", "FROM busybox AS a\nRUN echo a > /a\nFROM busybox\nCOPY --from=a /a /\nRUN exit 5\n", 5,
			[]string{"Dockerfile:5: ", "returned a non-zero code: 5"}, 0},
		{"copy from stage missing", "FROM busybox AS a\nFROM busybox\nCOPY --from=a /nothere /\n", 0,
			[]string{"Dockerfile:3: ", "nothere"}, 0},
		{"copy from unreachable image", "FROM busybox\nCOPY --from=" + closed + "/h7/other:1 /a /\n", 0,
			[]string{"Dockerfile:2: ", closed + "/h7/other"}, 0},
		{"workdir over a file", "FROM busybox\nWORKDIR /etc/passwd/sub\n", 0,
			[]string{"Dockerfile:2: ", "/etc/passwd"}, 0},
		{"run on scratch", "FROM scratch\nRUN true\n", 0,
			[]string{"Dockerfile:2: "}, 0},
		{"run missing program", "FROM busybox\nRUN [\"/h7-nothere\"]\n", 0,
			[]string{"Dockerfile:2: ", "/h7-nothere"}, 0},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t0 := time.Now()
			r := e.buildIn(ctx, c.df, "-t", "h7-fault")
			took := time.Since(t0)
			if c.code != 0 && r.code != c.code || r.code == 0 {
				t.Errorf("exit %d, want %s:\n%s", r.code, map[bool]string{true: strconv.Itoa(c.code), false: "non-zero"}[c.code != 0], r)
			}
			if !strings.HasPrefix(r.err, "xmgr: ") {
				t.Errorf("stderr does not start with \"xmgr: \": %q", r.err)
			}
			for _, w := range c.want {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r)
				}
			}
			limit := c.timeout
			if limit == 0 {
				limit = 15 * time.Second
			}
			if took > limit {
				t.Errorf("the failed build took %v (limit %v)", took.Round(time.Millisecond), limit)
			}
			t.Logf("%v: %s", took.Round(time.Millisecond), lastLine(r.err))
			if out := e.xmgr("images", "-q", "h7-fault"); strings.TrimSpace(out.out) != "" {
				t.Errorf("the failed build tagged an image: %s", out.out)
			}
			e.assertClean(t, 0)
		})
	}
}

// bgBuild is a build running in the background, its output in lines.
type bgBuild struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   strings.Builder
	seen  chan string // each line as it comes
	done  chan struct{}
	code  int
	since time.Time
}

// startBuild starts `xmgr build` in dir with the Dockerfile df on stdin:
// with dir as the context, or none when dir is "".
func (e *faultEnv) startBuild(t *testing.T, dir, df string, args ...string) *bgBuild {
	t.Helper()
	full := append([]string{"-H", e.host, "build"}, args...)
	if dir != "" {
		full = append(full, "-f", "-", ".")
	} else {
		full = append(full, "-")
	}
	b := &bgBuild{cmd: exec.Command(xmgrBin, full...), seen: make(chan string, 1000), done: make(chan struct{}), since: time.Now()}
	b.cmd.Dir = dir
	b.cmd.Env = append(os.Environ(), "XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG="+e.config)
	b.cmd.Stdin = strings.NewReader(df)
	pr, pw := io.Pipe()
	b.cmd.Stdout, b.cmd.Stderr = pw, pw
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.record(b.output)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			b.mu.Lock()
			b.out.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
			select {
			case b.seen <- sc.Text():
			default:
			}
		}
		close(b.seen)
	}()
	go func() {
		err := b.cmd.Wait()
		pw.Close()
		b.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			b.code = ee.ExitCode()
		}
		close(b.done)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

func (b *bgBuild) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// waitLine waits for an output line holding s.
func (b *bgBuild) waitLine(t *testing.T, s string, d time.Duration) {
	t.Helper()
	timer := time.After(d)
	for {
		select {
		case l, ok := <-b.seen:
			if !ok {
				t.Fatalf("the build ended before %q:\n%s", s, b.output())
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timer:
			t.Fatalf("no %q in the build's output after %v:\n%s", s, d, b.output())
		}
	}
}

// wait waits for the CLI to exit and returns its code.
func (b *bgBuild) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
		return b.code
	case <-time.After(d):
		t.Fatalf("the build CLI did not exit within %v:\n%s", d, b.output())
		return -1
	}
}

// sleepDockerfile runs a RUN that prints "h7-started" (a word its Step
// line does not hold) and sleeps; the marker (a distinct sleep length)
// tells its processes apart.
func sleepDockerfile(marker int) string {
	return fmt.Sprintf("FROM busybox\nARG T=%d\nRUN echo h7-start\"\"ed; sleep $T; echo h7-slept\nCMD [\"cat\", \"/etc/passwd\"]\n", marker)
}

// TestBuildFaultInterrupt: the CLI of a build is interrupted while a RUN
// runs (Ctrl-C, then kill -9); the step container goes within seconds and
// nothing is left.
func TestBuildFaultInterrupt(t *testing.T) {
	type tc struct {
		sig     syscall.Signal
		context bool // a directory context (a tar body), or the Dockerfile alone
	}
	var cases []tc
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		cases = append(cases, tc{sig, true}, tc{sig, false})
	}
	for i, c := range cases {
		sig := c.sig
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGKILL: "SIGKILL"}[sig] + map[bool]string{true: "_context_dir", false: "_stdin_only"}[c.context]
		t.Run(name, func(t *testing.T) {
			e := newFaultEnv(t)
			marker := 3071 + i
			dir := ""
			if c.context {
				dir = t.TempDir()
			}
			tag := fmt.Sprintf("h7-int%d", i)
			b := e.startBuild(t, dir, sleepDockerfile(marker), "-t", tag)
			b.waitLine(t, "h7-started", 30*time.Second)
			if r := e.xmgr("ps", "-q"); strings.TrimSpace(r.out) == "" {
				t.Errorf("no running step container while the RUN runs: %s", r)
			}
			t0 := time.Now()
			_ = b.cmd.Process.Signal(sig)
			code := b.wait(t, 5*time.Second)
			t.Logf("%v: the CLI exited %d after %v", sig, code, time.Since(t0).Round(time.Millisecond))
			if code == 0 {
				t.Errorf("the interrupted build exited 0:\n%s", b.output())
			}
			// The step container is gone within a few seconds.
			deadline := time.Now().Add(5 * time.Second)
			for {
				r := e.xmgr("ps", "-aq")
				if r.code == 0 && strings.TrimSpace(r.out) == "" {
					t.Logf("step container gone %v after the signal", time.Since(t0).Round(time.Millisecond))
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("the step container is still there 5s after %v: %s", sig, r.out)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			e.assertClean(t, 5*time.Second, "sleep "+strconv.Itoa(marker))
			if r := e.xmgr("images", "-q", tag); strings.TrimSpace(r.out) != "" {
				t.Errorf("the interrupted build tagged an image: %s", r.out)
			}
			// The daemon still builds, and the same Dockerfile with a
			// short sleep works.
			r := e.buildIn(dir, sleepDockerfile(marker), "-t", tag, "--build-arg", "T=0")
			if r.code != 0 {
				t.Fatalf("a build after the interrupted one: %s", r)
			}
			e.assertClean(t, 5*time.Second)
		})
	}
}

// TestBuildFaultDaemonKill: the daemon dies (SIGKILL) during a RUN and
// during a big COPY; after a restart nothing of the build is left and the
// same Dockerfile builds.
func TestBuildFaultDaemonKill(t *testing.T) {
	t.Run("during_RUN", func(t *testing.T) {
		e := newFaultEnv(t)
		marker := 3081
		dir := t.TempDir()
		df := sleepDockerfile(marker)
		b := e.startBuild(t, dir, df, "-t", "h7-kill")
		b.waitLine(t, "h7-started", 30*time.Second)
		e.kill()
		code := b.wait(t, 10*time.Second)
		t.Logf("the CLI exited %d when the daemon died:\n%s", code, tail(b.output(), 600))
		if code == 0 {
			t.Errorf("the CLI exited 0 though its daemon died")
		}
		e.start()
		e.assertClean(t, 10*time.Second, "sleep "+strconv.Itoa(marker))
		r := e.buildIn(dir, df, "-t", "h7-kill", "--build-arg", "T=0")
		if r.code != 0 {
			t.Fatalf("the build after the restart: %s", r)
		}
		if r := e.xmgr("run", "--rm", "h7-kill"); r.code != 0 || !strings.Contains(r.out, "root:x:0:0") {
			t.Errorf("run of the image built after the restart: %s", r)
		}
		e.assertClean(t, 5*time.Second)
	})
	t.Run("SIGTERM_during_RUN", func(t *testing.T) {
		// A graceful stop: the daemon lets requests finish; a build
		// whose RUN sleeps 20s must not leave anything either way.
		e := newFaultEnv(t)
		df := sleepDockerfile(3082)
		b := e.startBuild(t, "", df, "-t", "h7-term", "--build-arg", "T=20")
		b.waitLine(t, "h7-started", 30*time.Second)
		t0 := time.Now()
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.waited:
			e.cmd = nil
		case <-time.After(60 * time.Second):
			t.Fatalf("the daemon did not stop within 60s of SIGTERM during a build")
		}
		code := b.wait(t, 10*time.Second)
		t.Logf("the daemon stopped %v after SIGTERM; the build exited %d:\n%s", time.Since(t0).Round(time.Millisecond), code, tail(b.output(), 300))
		e.start()
		e.assertClean(t, 10*time.Second, "sleep 20")
		if r := e.buildIn("", df, "-t", "h7-term", "--build-arg", "T=0"); r.code != 0 {
			t.Fatalf("the build after the restart: %s", r)
		}
		e.assertClean(t, 5*time.Second)
	})
	t.Run("during_RUN_commit", func(t *testing.T) {
		// The RUN writes 256 MB and ends: the daemon dies while it takes
		// the layer of the exited step container.
		e := newFaultEnv(t)
		df := "FROM busybox\nRUN busybox dd if=/dev/zero of=/big bs=1M count=256 2>/dev/null; echo h7-writ\"\"ten\nCMD [\"ls\", \"-l\", \"/big\"]\n"
		b := e.startBuild(t, "", df, "-t", "h7-commit")
		b.waitLine(t, "h7-written", 60*time.Second)
		time.Sleep(50 * time.Millisecond)
		e.kill()
		if code := b.wait(t, 10*time.Second); code == 0 {
			t.Logf("the build had finished before the kill:\n%s", b.output())
		}
		e.start()
		e.assertClean(t, 10*time.Second)
		r := e.buildIn("", df, "-t", "h7-commit")
		if r.code != 0 {
			t.Fatalf("the build after the restart: %s", r)
		}
		if r := e.xmgr("run", "--rm", "h7-commit"); r.code != 0 || !strings.Contains(r.out, "268435456") {
			t.Errorf("run of the image built after the restart: %s", r)
		}
		e.assertClean(t, 5*time.Second)
	})
	t.Run("during_COPY", func(t *testing.T) {
		e := newFaultEnv(t)
		dir := bigContext(t)
		df := "FROM busybox\nCOPY big1 big2 /data/\nCMD [\"ls\", \"-l\", \"/data\"]\n"
		b := e.startBuild(t, dir, df, "-t", "h7-copy")
		tmp := filepath.Join(e.data, "tmp", "build")
		var where string
		for deadline := time.Now().Add(60 * time.Second); where == ""; {
			ents, _ := os.ReadDir(tmp)
			for _, d := range ents {
				if strings.HasPrefix(d.Name(), "rootfs-") {
					where = d.Name()
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the COPY's snapshot was never mounted in %s:\n%s", tmp, b.output())
			}
			select {
			case <-b.done:
				t.Fatalf("the build ended before its COPY was caught:\n%s", b.output())
			default:
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		e.kill()
		t.Logf("killed the daemon %v after the build began, with %s mounted", time.Since(b.since).Round(time.Millisecond), where)
		if code := b.wait(t, 10*time.Second); code == 0 {
			t.Errorf("the CLI exited 0 though its daemon died")
		}
		e.start()
		e.assertClean(t, 10*time.Second)
		r := e.buildIn(dir, df, "-t", "h7-copy")
		if r.code != 0 {
			t.Fatalf("the build after the restart: %s", r)
		}
		if r := e.xmgr("run", "--rm", "h7-copy"); r.code != 0 || strings.Count(r.out, "134217728") != 2 {
			t.Errorf("run of the image built after the restart: %s", r)
		}
		e.assertClean(t, 5*time.Second)
	})
}

// TestBuildFaultConcurrent: two builds at once, of different Dockerfiles
// on one base and of the same Dockerfile, both succeed with the right
// images.
func TestBuildFaultConcurrent(t *testing.T) {
	e := newFaultEnv(t)
	mk := func(name string) (dir, df string) {
		dir = writeFiles(t, t.TempDir(), map[string]string{name + ".txt": name + "-file\n"})
		df = fmt.Sprintf("FROM busybox\nRUN echo %s-run > /run.txt; sleep 1\nCOPY %s.txt /\nWORKDIR /w-%s\nRUN echo %s-second > second.txt\nCMD cat /run.txt /%s.txt /w-%s/second.txt\n",
			name, name, name, name, name, name)
		return dir, df
	}
	both := func(t *testing.T, a, b [2]string, tags [2]string) {
		var wg sync.WaitGroup
		var res [2]result
		for i, x := range [][2]string{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = e.buildIn(x[0], x[1], "-t", tags[i])
			}()
		}
		wg.Wait()
		for i := range res {
			if res[i].code != 0 {
				t.Errorf("build %s: %s", tags[i], res[i])
			}
		}
	}
	t.Run("different", func(t *testing.T) {
		da, fa := mk("alpha")
		db, fb := mk("beta")
		both(t, [2]string{da, fa}, [2]string{db, fb}, [2]string{"h7-alpha", "h7-beta"})
		for _, n := range []string{"alpha", "beta"} {
			want := fmt.Sprintf("%s-run\n%s-file\n%s-second\n", n, n, n)
			if r := e.xmgr("run", "--rm", "h7-"+n); r.code != 0 || r.out != want {
				t.Errorf("run h7-%s: %s\nwant %q", n, r, want)
			}
		}
		e.assertClean(t, 5*time.Second)
	})
	t.Run("same", func(t *testing.T) {
		d, f := mk("gamma")
		// --no-cache: both really run (the first subtest cannot help).
		var wg sync.WaitGroup
		var res [2]result
		for i := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = e.buildIn(d, f, "--no-cache", "-t", fmt.Sprintf("h7-gamma%d", i))
			}()
		}
		wg.Wait()
		want := "gamma-run\ngamma-file\ngamma-second\n"
		for i := range res {
			tag := fmt.Sprintf("h7-gamma%d", i)
			if res[i].code != 0 {
				t.Errorf("build %s: %s", tag, res[i])
				continue
			}
			if r := e.xmgr("run", "--rm", tag); r.code != 0 || r.out != want {
				t.Errorf("run %s: %s\nwant %q", tag, r, want)
			}
		}
		// And cached: a third build of it takes every step from the cache.
		r := e.buildIn(d, f, "-t", "h7-gamma-cached")
		if r.code != 0 || strings.Count(r.out, "Using cache") != 5 {
			t.Errorf("the cached build after the concurrent ones: %s", r)
		}
		e.assertClean(t, 5*time.Second)
	})
	t.Run("one_fails", func(t *testing.T) {
		// A build that fails at a RUN beside one that succeeds, on the
		// same base: the failure's cleanup leaves the other alone.
		d, f := mk("epsilon")
		bad := "FROM busybox\nRUN echo epsilon-bad > /bad; sleep 1\nCOPY epsilon.txt /\nRUN exit 3\n"
		var wg sync.WaitGroup
		var good, failed result
		wg.Add(2)
		go func() { defer wg.Done(); good = e.buildIn(d, f, "-t", "h7-epsilon") }()
		go func() { defer wg.Done(); failed = e.buildIn(d, bad, "-t", "h7-bad") }()
		wg.Wait()
		if good.code != 0 {
			t.Errorf("the good build: %s", good)
		}
		if failed.code != 3 {
			t.Errorf("the failing build: %s", failed)
		}
		if r := e.xmgr("run", "--rm", "h7-epsilon"); r.code != 0 || r.out != "epsilon-run\nepsilon-file\nepsilon-second\n" {
			t.Errorf("run h7-epsilon: %s", r)
		}
		e.assertClean(t, 5*time.Second)
	})
	t.Run("same_cached_race", func(t *testing.T) {
		// Both miss the cache at once (a new base line), then race to
		// record the same steps.
		d, f := mk("delta")
		f = strings.Replace(f, "FROM busybox\n", "FROM busybox\nLABEL h7=race\n", 1)
		both(t, [2]string{d, f}, [2]string{d, f}, [2]string{"h7-delta0", "h7-delta1"})
		for i := 0; i < 2; i++ {
			tag := fmt.Sprintf("h7-delta%d", i)
			if r := e.xmgr("run", "--rm", tag); r.code != 0 || r.out != "delta-run\ndelta-file\ndelta-second\n" {
				t.Errorf("run %s: %s", tag, r)
			}
		}
		e.assertClean(t, 5*time.Second)
	})
}

// TestBuildFaultNetwork: RUN with --network none has only lo and cannot
// reach the bridge's gateway; with the default bridge it has eth0 with an
// address of the daemon's subnet and fetches a page from the gateway.
func TestBuildFaultNetwork(t *testing.T) {
	e := newFaultEnv(t)
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "h7-page")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	gw := e.subnetPrefix() + "1"
	dir := t.TempDir()
	args := []string{"--no-cache", "--build-arg", "GW=" + gw, "--build-arg", "PORT=" + port}

	// busybox-static's wget crashes in a rootfs without glibc's NSS
	// modules (in a plain chroot too): nc speaks the HTTP instead.
	get := `printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 3 $GW $PORT`

	// No network: lo only, and the gateway cannot be reached.
	df := "FROM busybox\nARG GW\nARG PORT\n" +
		"RUN ls /sys/class/net; test \"$(ls /sys/class/net)\" = lo\n" +
		"RUN if " + get + "; then echo REACHED; exit 9; else echo h7-unreach\"\"able; fi\n"
	r := e.buildIn(dir, df, append(args, "--network", "none")...)
	if r.code != 0 || !strings.Contains(r.out, "h7-unreachable") || !strings.Contains(r.out, "Network is unreachable") {
		t.Errorf("build with --network none: %s", r)
	}
	e.assertClean(t, 5*time.Second)

	// The default bridge: eth0 with an address of the subnet; the
	// gateway answers.
	df = "FROM busybox\nARG GW\nARG PORT\n" +
		"RUN busybox ip -4 -o addr show eth0; busybox ip -4 -o addr show eth0 | grep -F \" inet ${GW%.1}.\"\n" +
		"RUN " + get + " | grep -x h7-page\n"
	r = e.buildIn(dir, df, args...)
	if r.code != 0 {
		t.Errorf("build on the default bridge: %s", r)
	} else {
		t.Logf("RUN on the bridge: %s", strings.TrimSpace(grepLine(r.out, "scope global eth0")))
	}
	e.assertClean(t, 5*time.Second)
	// An unknown network is refused before any step runs.
	r = e.buildIn(dir, df, append(args, "--network", "h7-no-such-net")...)
	if r.code == 0 || !strings.Contains(r.err, "h7-no-such-net") {
		t.Errorf("build with an unknown network: %s", r)
	}
	e.assertClean(t, 5*time.Second)
}

func grepLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestBuildFaultChecks makes sure the checks above see what they look for:
// a container (with its snapshot) and a directory under tmp/build.
func TestBuildFaultChecks(t *testing.T) {
	e := newFaultEnv(t)
	if p := e.problems(); len(p) > 0 {
		t.Fatalf("a fresh daemon is not clean: %v", p)
	}
	id := strings.TrimSpace(e.ok("create", "busybox", "true"))
	stray := filepath.Join(e.data, "tmp", "build", "h7-stray")
	if err := os.Mkdir(stray, 0o700); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(e.problems(), "\n")
	for _, want := range []string{"containers left", "snapshot \"ctr-" + id, "left under " + filepath.Dir(stray) + ": h7-stray"} {
		if !strings.Contains(got, want) {
			t.Errorf("the checks miss %q; they said:\n%s", want, got)
		}
	}
	e.ok("rm", id)
	os.Remove(stray)
	e.assertClean(t, 0)
}

var vethIndexRe = regexp.MustCompile(`(?m)^(\d+): veth`)

// vethHolders explains a veth left on the bridge: the network namespace
// of its peer lives on, so it names the processes in that namespace, the
// processes with a descriptor of a namespace, and the mount namespaces
// other than the test's where a namespace file of this daemon is mounted.
func (e *faultEnv) vethHolders() string {
	out, _ := exec.Command("ip", "-o", "link", "show", "master", e.bridge).Output()
	idx := vethIndexRe.FindAllStringSubmatch(string(out), -1)
	if len(idx) == 0 {
		return ""
	}
	var b strings.Builder
	self, _ := os.Readlink("/proc/self/ns/mnt")
	byNet := map[string][]string{} // net ns -> "pid comm"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		comm, _ := os.ReadFile(p + "/comm")
		who := filepath.Base(p) + " " + strings.TrimSpace(string(comm))
		if ns, err := os.Readlink(p + "/ns/net"); err == nil {
			byNet[ns] = append(byNet[ns], who)
		}
		if mnt, _ := os.Readlink(p + "/ns/mnt"); mnt != self {
			if mi, err := os.ReadFile(p + "/mountinfo"); err == nil && strings.Contains(string(mi), filepath.Join(e.exec, "netns")) {
				fmt.Fprintf(&b, "  %s (mount ns %s) has a netns file of this daemon mounted\n", who, mnt)
			}
		}
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			if l, _ := os.Readlink(fd); strings.HasPrefix(l, "net:") {
				fmt.Fprintf(&b, "  %s holds %s on fd %s\n", who, l, filepath.Base(fd))
			}
		}
	}
	found := b.Len()
	for ns, who := range byNet {
		pid := strings.Fields(who[0])[0]
		links, err := exec.Command("nsenter", "-t", pid, "-n", "ip", "-o", "link").Output()
		if err != nil {
			continue
		}
		for _, m := range idx {
			if strings.Contains(string(links), "@if"+m[1]+":") {
				fmt.Fprintf(&b, "  the peer of veth %s is in %s, with processes %v\n", m[1], ns, who)
			}
		}
	}
	if b.Len() == found {
		b.WriteString("  no process is in the peers' namespaces: the kernel has yet to destroy them\n")
	}
	return b.String()
}

// bigContext is a directory of two 128 MB files (big1, big2): sending and
// copying it takes long enough to be interrupted.
func bigContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"big1", "big2"} {
		f, err := os.Create(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = byte(i*7 + len(n))
		}
		for i := 0; i < 128; i++ {
			chunk[0] = byte(i)
			if _, err := f.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildFaultInterruptUpload: Ctrl-C while the context is being sent;
// the half-received context goes.
func TestBuildFaultInterruptUpload(t *testing.T) {
	e := newFaultEnv(t)
	dir := bigContext(t)
	b := e.startBuild(t, dir, "FROM busybox\nCOPY big1 big2 /data/\n", "-t", "h7-upload")
	tmp := filepath.Join(e.data, "tmp", "build")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no context directory appeared in %s:\n%s", tmp, b.output())
		}
	}
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	if code := b.wait(t, 5*time.Second); code == 0 {
		t.Errorf("the interrupted build exited 0:\n%s", b.output())
	}
	if strings.Contains(b.output(), "Step 2/2") {
		t.Logf("the context was sent before the signal; this run tested an interrupted COPY")
	}
	e.assertClean(t, 5*time.Second)
}

// lastLine is the last line of s (a CLI's error comes last).
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
