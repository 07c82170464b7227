package xmgr

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// The operations on running containers (exec, attach, logs, health,
// --init, user networks, cp/export/commit/diff, pause/rename/update,
// volumes, stats/top) through the xmgr CLI (and Docker's where it
// matters), each test with its own daemon.

const opsImage = "ops/busybox:1"

// opsEnv is a daemon with the busybox image opsImage; names gets a
// suffix unique to this test run.
type opsEnv struct {
	*env
	suffix string
}

func newOpsEnv(t *testing.T) *opsEnv {
	t.Helper()
	tarball := busyboxTar(t)
	// A short exec root: a shim's socket paths must fit 107 bytes.
	execRoot, err := os.MkdirTemp("/tmp", "xo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the daemon stopped (cleanups run in reverse)
		unmountUnder(execRoot)
		os.RemoveAll(execRoot)
	})
	e := newDaemon(t, "--exec-root", execRoot)
	e.exec = execRoot
	t.Cleanup(func() { dropNetwork(e.bridge, e.bip) })
	t.Cleanup(func() {
		if e.cmd == nil {
			return
		}
		// Containers first (they hold volumes and networks), then the
		// user networks, whose bridges would outlive the daemon.
		if ids := strings.Fields(e.xmgr("ps", "-aq").out); len(ids) > 0 {
			e.xmgr(append([]string{"rm", "-f", "-v"}, ids...)...)
		}
		for _, n := range strings.Fields(e.xmgr("network", "ls", "-q", "--filter", "type=custom").out) {
			e.xmgr("network", "rm", n)
		}
	})
	e.ok("import", tarball, opsImage)
	return &opsEnv{env: e, suffix: strconv.Itoa(os.Getpid())}
}

// name makes a container (network, volume) name unique to this run.
func (e *opsEnv) name(base string) string { return "ops-" + base + "-" + e.suffix }

// xmgrIn runs the CLI with stdin.
func (e *opsEnv) xmgrIn(stdin io.Reader, args ...string) result {
	e.t.Helper()
	return run(e.t, stdin, []string{"XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG=" + e.config}, xmgrBin, append([]string{"-H", e.host}, args...)...)
}

// fails runs the CLI and fails the test unless it exits non-zero with
// want in its stderr.
func (e *opsEnv) fails(want string, args ...string) {
	e.t.Helper()
	r := e.xmgr(args...)
	if r.code == 0 || !strings.Contains(r.err, want) {
		e.t.Fatalf("xmgr %s: want an error with %q, got %s", strings.Join(args, " "), want, r)
	}
}

// lines is a command running in the background whose stdout is read line
// by line; it is killed when the test ends.
type lines struct {
	cmd *exec.Cmd
	ch  chan string
}

func (e *opsEnv) background(bin string, stdin io.Reader, args ...string) *lines {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG="+e.config, "DOCKER_HOST="+e.host)
	cmd.Stdin = stdin
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	l := &lines{cmd: cmd, ch: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.ch <- sc.Text()
		}
		close(l.ch)
	}()
	return l
}

// next returns the next line, or fails after d; ok is false at the end
// of the output.
func (l *lines) next(t *testing.T, d time.Duration) (line string, ok bool) {
	t.Helper()
	select {
	case line, ok = <-l.ch:
		return line, ok
	case <-time.After(d):
		t.Fatalf("%v: no output for %v", l.cmd.Args, d)
	}
	return "", false
}

// waitExit waits up to d for the command to end and returns its code.
func (l *lines) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("%v did not end within %v", l.cmd.Args, d)
	}
	return -1
}

// debianDocker is Debian's docker CLI (20.10), or "" when not installed.
func debianDocker() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return ""
}

// slowStdin writes text after a delay, then ends (a client that
// half-closes its input once it has sent it).
func slowStdin(text string, delay time.Duration) io.Reader {
	r, w := io.Pipe()
	go func() {
		time.Sleep(delay)
		_, _ = io.WriteString(w, text)
		w.Close()
	}()
	return r
}

func TestOpsExec(t *testing.T) {
	e := newOpsEnv(t)
	c := e.name("exec")
	e.ok("run", "-d", "--name", c, opsImage, "sleep", "1000")

	if r := e.xmgr("exec", c, "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("exec exit 3: %s", r)
	}
	if out := e.ok("exec", "-e", "FOO=bar", c, "sh", "-c", "echo $FOO"); out != "bar\n" {
		t.Errorf("exec -e: %q", out)
	}
	if out := e.ok("exec", "-w", "/tmp", c, "sh", "-c", "pwd"); out != "/tmp\n" {
		t.Errorf("exec -w: %q", out)
	}
	if out := e.ok("exec", "-u", "1000:1001", c, "busybox", "id"); !strings.Contains(out, "uid=1000") || !strings.Contains(out, "gid=1001") {
		t.Errorf("exec -u 1000:1001: %q", out)
	}
	e.fails("unable to find user nobody", "exec", "-u", "nobody", c, "true")
	e.fails("", "exec", c, "/no/such/binary")

	// Piped stdin that ends: the process gets all of it, then EOF.
	if r := e.xmgrIn(slowStdin("x\n", 500*time.Millisecond), "exec", "-i", c, "cat"); r.code != 0 || r.out != "x\n" {
		t.Errorf("exec -i with piped stdin: %s", r)
	}
	if r := e.xmgrIn(strings.NewReader("at once\n"), "exec", "-i", c, "cat"); r.code != 0 || r.out != "at once\n" {
		t.Errorf("exec -i with stdin at EOF at once: %s", r)
	}
	if d := debianDocker(); d != "" {
		r := run(t, slowStdin("y\n", 500*time.Millisecond), []string{"DOCKER_HOST=" + e.host, "DOCKER_CONFIG=" + e.config}, d, "exec", "-i", c, "cat")
		if r.code != 0 || r.out != "y\n" {
			t.Errorf("docker exec -i with piped stdin: %s", r)
		}
	}

	// Detached: the CLI returns at once, the process goes on.
	start := time.Now()
	e.ok("exec", "-d", c, "sh", "-c", "sleep 1; echo done > /tmp/detached")
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("exec -d took %v", d)
	}
	if r := e.xmgr("exec", c, "cat", "/tmp/detached"); r.code == 0 {
		t.Errorf("exec -d: the file is there before the process could write it: %s", r)
	}
	eventually(t, 10*time.Second, "the detached exec's file", func() bool {
		return e.xmgr("exec", c, "cat", "/tmp/detached").out == "done\n"
	})

	// The API: an unknown exec, and what inspect says of a finished one.
	if code, _, body := e.raw("GET", "/v1.41/exec/nosuchexec/json"); code != 404 || !strings.Contains(body, "No such exec instance: nosuchexec") {
		t.Errorf("inspect of an unknown exec: %d %s", code, body)
	}

	cl := e.client()
	ctx := context.Background()
	execID, err := cl.ContainerExecCreate(ctx, c, types.ExecConfig{AttachStdin: true, AttachStdout: true, Cmd: []string{"sleep", "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ContainerExecStart(ctx, execID, types.ExecStartRequest{}); err != nil {
		t.Fatal(err)
	}
	ins, err := cl.ContainerExecInspect(ctx, execID)
	if err != nil {
		t.Fatal(err)
	}
	if !ins.Running || !ins.OpenStdin || !ins.OpenStdout || ins.OpenStderr || ins.ExitCode != nil {
		t.Errorf("inspect of a running exec: %+v", ins)
	}
	eventually(t, 10*time.Second, "the exec's end", func() bool {
		ins, err = cl.ContainerExecInspect(ctx, execID)
		return err == nil && !ins.Running
	})
	if ins.ExitCode == nil || *ins.ExitCode != 0 || ins.Pid <= 0 {
		t.Errorf("inspect of a finished exec: %+v", ins)
	}

	e.ok("pause", c)
	e.fails("paused", "exec", c, "true")
	e.ok("unpause", c)
	e.ok("stop", "-t", "1", c)
	e.fails("is not running", "exec", c, "true")
}

func TestOpsAttachLogs(t *testing.T) {
	e := newOpsEnv(t)
	c := e.name("attach")
	ci := e.name("attach-i")
	ct := e.name("attach-t")
	loop := `i=0; while true; do echo line$i; i=$((i+1)); sleep 0.2; done`
	e.ok("run", "-d", "--name", c, opsImage, "sh", "-c", loop)
	e.ok("run", "-d", "-i", "--name", ci, opsImage, "sh", "-c", loop)
	e.ok("run", "-d", "-i", "-t", "--name", ct, opsImage, "sh", "-c", loop)

	// Live output arrives for a client attached to a running container,
	// with and without stdin of its own (which ends at once here).
	clis := [][]string{{xmgrBin, "-H", e.host, "attach"}}
	if d := debianDocker(); d != "" {
		clis = append(clis, []string{d, "attach"})
	}
	for _, cli := range clis {
		for _, name := range []string{c, ci} {
			l := e.background(cli[0], nil, append(cli[1:], name)...)
			for i := 0; i < 3; i++ {
				line, ok := l.next(t, 5*time.Second)
				if !ok || !strings.HasPrefix(line, "line") {
					t.Fatalf("%v %s: line %d is %q (ended: %v)", cli, name, i, line, !ok)
				}
			}
			_ = l.cmd.Process.Kill()
		}
	}

	// The detach keys under a terminal: the client leaves, the container
	// runs on.
	// (Docker's CLI finds the keys itself and exits 1 with "read escape
	// sequence", as it does with dockerd.)
	if script, err := exec.LookPath("script"); err == nil {
		for _, cli := range clis {
			keys := io.MultiReader(slowStdin("", time.Second), strings.NewReader("\x10\x11"))
			cmd := strings.Join(append(cli, ct), " ")
			l := e.background(script, keys, "-qefc", cmd, "/dev/null")
			if line, ok := l.next(t, 5*time.Second); !ok || !strings.HasPrefix(line, "line") {
				t.Errorf("%v under a terminal: %q", cli, line)
			}
			if code := l.waitExit(t, 10*time.Second); cli[0] == xmgrBin && code != 0 {
				t.Errorf("%v left with ctrl-p ctrl-q: exit %d", cli, code)
			}
			if st := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Status}}", ct)); st != "running" {
				t.Errorf("after the detach of %v the container is %s", cli, st)
			}
		}
	}

	// logs -f follows until the container stops.
	l := e.background(xmgrBin, nil, "-H", e.host, "logs", "-f", "--tail", "1", c)
	first, _ := l.next(t, 5*time.Second)
	second, _ := l.next(t, 5*time.Second)
	if !strings.HasPrefix(first, "line") || !strings.HasPrefix(second, "line") || first == second {
		t.Fatalf("logs -f: %q then %q", first, second)
	}
	e.ok("stop", "-t", "1", c)
	for {
		if _, ok := l.next(t, 10*time.Second); !ok {
			break
		}
	}
	if code := l.waitExit(t, 5*time.Second); code != 0 {
		t.Errorf("logs -f exit %d after the container stopped", code)
	}

	if out := e.ok("logs", "--tail", "2", c); len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Errorf("logs --tail 2:\n%s", out)
	}
	out := e.ok("logs", "-t", "--tail", "1", c)
	ts, text, _ := strings.Cut(strings.TrimSpace(out), " ")
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasPrefix(text, "line") {
		t.Errorf("logs -t: %q (%v)", out, err)
	}

	// --since: a container that writes "first", then "second" 2 s later.
	s := e.name("since")
	e.ok("run", "-d", "--name", s, opsImage, "sh", "-c", "echo first; sleep 2; echo second; sleep 1000")
	eventually(t, 10*time.Second, "the second line", func() bool {
		return strings.Contains(e.ok("logs", s), "second")
	})
	ts, _, _ = strings.Cut(e.ok("logs", "-t", s), " ")
	firstAt, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Fatalf("logs -t: %v", err)
	}
	since := strconv.FormatFloat(float64(firstAt.Add(time.Second).UnixNano())/1e9, 'f', 3, 64)
	if out := e.ok("logs", "--since", since, s); out != "second\n" {
		t.Errorf("logs --since %s: %q", since, out)
	}
}

func TestOpsHealth(t *testing.T) {
	e := newOpsEnv(t)
	c := e.name("health")
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	e.ok("run", "-d", "--name", c, "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
		"--health-retries", "2", opsImage, "sleep", "1000")
	health := func() string {
		return strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Health.Status}}", c))
	}
	status := func() string {
		return strings.TrimSpace(e.ok("ps", "--filter", "name="+c, "--format", "{{.Status}}"))
	}
	// The first probe comes an interval after the start, the second
	// failure makes it unhealthy.
	if h := health(); h != "starting" {
		t.Errorf("right after the start the health is %q", h)
	}
	eventually(t, 10*time.Second, "unhealthy", func() bool { return health() == "unhealthy" })
	if s := status(); !strings.Contains(s, "(unhealthy)") {
		t.Errorf("ps status %q", s)
	}
	e.ok("exec", c, "busybox", "touch", "/tmp/ok")
	eventually(t, 10*time.Second, "healthy", func() bool { return health() == "healthy" })
	if s := status(); !strings.Contains(s, "(healthy)") {
		t.Errorf("ps status %q", s)
	}
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	id := strings.TrimSpace(e.ok("inspect", "-f", "{{.Id}}", c))
	events := e.ok("events", "--since", since, "--until", until, "--filter", "type=container", "--format", "{{.Action}} {{.Actor.ID}}")
	for _, want := range []string{"health_status: unhealthy", "health_status: healthy"} {
		if !strings.Contains(events, want+" "+id+"\n") {
			t.Errorf("no %q event in:\n%s", want, events)
		}
	}
}

func TestOpsInit(t *testing.T) {
	e := newOpsEnv(t)
	r := e.xmgr("run", "--rm", "--init", opsImage, "sh", "-c", "cat /proc/1/cmdline; exit 7")
	if r.code != 7 || !strings.HasPrefix(r.out, "/dev/init\x00") {
		t.Errorf("run --init: %q", r)
	}
	r = e.xmgr("run", "--rm", opsImage, "sh", "-c", "cat /proc/1/cmdline; exit 5")
	if r.code != 5 || !strings.HasPrefix(r.out, "sh\x00") {
		t.Errorf("run without --init: %q", r)
	}
}

func TestOpsUserNetwork(t *testing.T) {
	e := newOpsEnv(t)
	n := e.name("n1")
	a, b := e.name("a"), e.name("b")
	e.ok("network", "create", n)
	e.ok("run", "-d", "--network", n, "--name", a, "--network-alias", "web-"+e.suffix, opsImage, "sleep", "1000")
	e.ok("run", "-d", "--network", n, "--name", b, opsImage, "sleep", "1000")
	if r := e.xmgr("exec", a, "busybox", "ping", "-c1", "-W2", b); r.code != 0 {
		t.Errorf("a pings b by name: %s", r)
	}
	if r := e.xmgr("exec", b, "busybox", "ping", "-c1", "-W2", "web-"+e.suffix); r.code != 0 {
		t.Errorf("b pings a by its alias: %s", r)
	}
	if hosts := e.ok("exec", a, "cat", "/etc/hosts"); !strings.Contains(hosts, b) {
		t.Errorf("a's /etc/hosts does not list b:\n%s", hosts)
	}
	e.ok("rm", "-f", b)
	eventually(t, 5*time.Second, "b gone from a's /etc/hosts", func() bool {
		return !strings.Contains(e.ok("exec", a, "cat", "/etc/hosts"), b)
	})
	if r := e.xmgr("exec", a, "busybox", "ping", "-c1", "-W1", b); r.code == 0 {
		t.Errorf("a still reaches the removed b: %s", r)
	}
}

func TestOpsFiles(t *testing.T) {
	e := newOpsEnv(t)
	c := e.name("files")
	e.ok("run", "-d", "--name", c, opsImage, "sleep", "1000")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.ok("cp", in, c+":/tmp/in.txt")
	if out := e.ok("exec", c, "cat", "/tmp/in.txt"); out != "from the host\n" {
		t.Errorf("cp into the container: %q", out)
	}
	e.ok("exec", c, "sh", "-c", "echo from the container > /tmp/out.txt")
	e.ok("cp", c+":/tmp/out.txt", dir)
	if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "from the container\n" {
		t.Errorf("cp out of the container: %q %v", b, err)
	}

	diff := e.ok("diff", c)
	for _, want := range []string{"C /tmp", "A /tmp/in.txt", "A /tmp/out.txt"} {
		if !strings.Contains(diff, want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}

	tarball := filepath.Join(dir, "export.tar")
	e.ok("export", "-o", tarball, c)
	if r := run(t, nil, nil, "tar", "-tf", tarball); r.code != 0 || !strings.Contains(r.out, "bin/busybox\n") || !strings.Contains(r.out, "tmp/out.txt\n") {
		t.Errorf("export: %s", r)
	}

	img := "ops/committed:" + e.suffix
	e.ok("commit", c, img)
	if out := e.ok("run", "--rm", img, "cat", "/tmp/out.txt"); out != "from the container\n" {
		t.Errorf("the committed image: %q", out)
	}
}

// cgroupFile is the file of the container's (first process's) cgroup of
// controller (cgroup v1).
func cgroupFile(t *testing.T, pid, controller, file string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && (f[1] == controller || strings.Contains(","+f[1]+",", ","+controller+",")) {
			return filepath.Join("/sys/fs/cgroup", controller, f[2], file)
		}
	}
	t.Skipf("no %s cgroup (v1) for pid %s", controller, pid)
	return ""
}

func TestOpsPauseRenameUpdate(t *testing.T) {
	e := newOpsEnv(t)
	c := e.name("pause")
	e.ok("run", "-d", "--name", c, opsImage, "sh", "-c", `i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done`)
	pid := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Pid}}", c))
	logLines := func() int { return strings.Count(e.ok("logs", c), "\n") }

	e.ok("pause", c)
	if st := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Status}}", c)); st != "paused" {
		t.Errorf("paused container's status %q", st)
	}
	if ps := e.ok("ps", "--filter", "name="+c, "--format", "{{.Status}}"); !strings.Contains(ps, "(Paused)") {
		t.Errorf("ps status %q", ps)
	}
	if b, _ := os.ReadFile(cgroupFile(t, pid, "freezer", "freezer.state")); strings.TrimSpace(string(b)) != "FROZEN" {
		t.Errorf("freezer.state %q", b)
	}
	before := logLines()
	time.Sleep(500 * time.Millisecond)
	if after := logLines(); after != before {
		t.Errorf("the paused process wrote %d lines", after-before)
	}
	e.ok("unpause", c)
	eventually(t, 5*time.Second, "output after unpause", func() bool { return logLines() > before+2 })

	c2 := e.name("renamed")
	e.ok("rename", c, c2)
	e.fails("No such object", "inspect", c)
	if name := strings.TrimSpace(e.ok("inspect", "-f", "{{.Name}}", c2)); name != "/"+c2 {
		t.Errorf("renamed: %q", name)
	}

	limit := cgroupFile(t, pid, "memory", "memory.limit_in_bytes")
	e.ok("update", "--memory", "64m", c2)
	if b, _ := os.ReadFile(limit); strings.TrimSpace(string(b)) != "67108864" {
		t.Errorf("memory.limit_in_bytes after update --memory 64m: %q", b)
	}
	if m := strings.TrimSpace(e.ok("inspect", "-f", "{{.HostConfig.Memory}}", c2)); m != "67108864" {
		t.Errorf("HostConfig.Memory %q", m)
	}
}

func TestOpsVolumes(t *testing.T) {
	e := newOpsEnv(t)
	// An image with content at /data, for the copy-up.
	seed := e.name("seed")
	e.ok("run", "--name", seed, opsImage, "sh", "-c", "busybox mkdir /data && echo seeded > /data/seed.txt")
	img := "ops/seeded:" + e.suffix
	e.ok("commit", seed, img)

	v := e.name("vol")
	c1, c2 := e.name("v1"), e.name("v2")
	e.ok("run", "-d", "--name", c1, "-v", v+":/data", img, "sleep", "1000")
	if out := e.ok("exec", c1, "cat", "/data/seed.txt"); out != "seeded\n" {
		t.Errorf("the volume was not filled from the image: %q", out)
	}
	e.ok("exec", c1, "sh", "-c", "echo shared > /data/shared.txt")
	// opsImage has no /data: the volume's content, not the image's.
	e.ok("run", "-d", "--name", c2, "-v", v+":/data", opsImage, "sleep", "1000")
	if out := e.ok("exec", c2, "cat", "/data/seed.txt", "/data/shared.txt"); out != "seeded\nshared\n" {
		t.Errorf("the second container sees %q", out)
	}
	e.fails("in use", "volume", "rm", v)
	if !strings.Contains(e.ok("volume", "ls", "-q"), v+"\n") {
		t.Errorf("the refused volume rm removed %s", v)
	}

	anon := e.name("anon")
	e.ok("run", "-d", "--name", anon, "-v", "/scratch", opsImage, "sleep", "1000")
	vol := strings.TrimSpace(e.ok("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", anon))
	if vol == "" || !strings.Contains(e.ok("volume", "ls", "-q"), vol+"\n") {
		t.Fatalf("anonymous volume %q not listed", vol)
	}
	e.ok("rm", "-f", "-v", anon)
	if strings.Contains(e.ok("volume", "ls", "-q"), vol+"\n") {
		t.Errorf("rm -v left the anonymous volume %s", vol)
	}

	e.ok("rm", "-f", c1, c2)
	e.ok("volume", "rm", v)
}

func TestOpsStatsTop(t *testing.T) {
	e := newOpsEnv(t)
	c, cm := e.name("stats"), e.name("stats-m")
	e.ok("run", "-d", "--name", c, opsImage, "sleep", "1000")
	e.ok("run", "-d", "--name", cm, "-m", "64m", opsImage, "sleep", "1000")

	memTotal := hostMemTotal(t)
	for _, cli := range []string{xmgrBin, debianDocker()} {
		if cli == "" {
			continue
		}
		args := []string{"stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", c, cm}
		var r result
		if cli == xmgrBin {
			r = e.xmgr(args...)
		} else {
			r = e.docker(cli, args...)
		}
		if r.code != 0 {
			t.Fatalf("%s stats: %s", cli, r)
		}
		for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
			f := strings.Fields(line) // name usage / limit pids
			if len(f) != 5 {
				t.Fatalf("%s stats line %q", cli, line)
			}
			limit := parseSize(t, f[3])
			want := memTotal
			if f[0] == cm {
				want = 64 << 20
			}
			// The CLIs print 3 significant digits.
			if limit < want*99/100 || limit > want*101/100 {
				t.Errorf("%s stats: %s's limit %s, want about %d", cli, f[0], f[3], want)
			}
			if usage := parseSize(t, f[1]); usage == 0 || usage > limit {
				t.Errorf("%s stats: %s's usage %s", cli, f[0], f[1])
			}
			if f[4] != "1" {
				t.Errorf("%s stats: %s's pids %s", cli, f[0], f[4])
			}
		}
	}

	if out := e.ok("top", c); !strings.Contains(out, "sleep 1000") || !strings.Contains(out, "PID") {
		t.Errorf("top:\n%s", out)
	}
	out := e.ok("top", c, "-o", "pid,comm")
	if f := strings.Fields(out); len(f) != 4 || f[0] != "PID" || f[1] != "COMMAND" || f[3] != "sleep" {
		t.Errorf("top -o pid,comm:\n%s", out)
	}
	e.ok("stop", "-t", "1", c)
	e.fails("is not running", "top", c)
}

// hostMemTotal is MemTotal of /proc/meminfo in bytes.
func hostMemTotal(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// parseSize reads the CLIs' binary sizes ("620KiB", "23.54GiB", "0B").
func parseSize(t *testing.T, s string) uint64 {
	t.Helper()
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"EiB", 1 << 60}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				t.Fatalf("size %q: %v", s, err)
			}
			return uint64(f * u.mult)
		}
	}
	t.Fatalf("size %q has no unit", s)
	return 0
}

// TestOpsCPUQuota: --cpu-period and --cpu-quota reach the container's
// cgroup at create, not only through update.
func TestOpsCPUQuota(t *testing.T) {
	e := newOpsEnv(t)
	c := e.name("cfs")
	e.ok("run", "-d", "--name", c, "--cpu-period", "50000", "--cpu-quota", "25000", opsImage, "sleep", "1000")
	pid := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Pid}}", c))
	for file, want := range map[string]string{"cpu.cfs_period_us": "50000", "cpu.cfs_quota_us": "25000"} {
		if b, _ := os.ReadFile(cgroupFile(t, pid, "cpu", file)); strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q, want %s", file, b, want)
		}
	}
	e.ok("update", "--cpu-quota", "40000", c)
	if b, _ := os.ReadFile(cgroupFile(t, pid, "cpu", "cpu.cfs_quota_us")); strings.TrimSpace(string(b)) != "40000" {
		t.Errorf("cpu.cfs_quota_us after update --cpu-quota 40000: %q", b)
	}
	e.fails("Conflicting options", "run", "--rm", "--cpus", "0.5", "--cpu-quota", "25000", opsImage, "true")
}
