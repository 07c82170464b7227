package xmgr

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
)

// ctrEnv is a daemon (with daemonArgs) with its own bridge and subnet
// (other tests' daemons may run at the same time) and a busybox image
// "ct/bb:1".
type ctrEnv struct {
	*env
	c              *client.Client
	ctx            context.Context
	bridge, subnet string
}

func newCtrEnv(t *testing.T, daemonArgs ...string) *ctrEnv {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("busybox-static is not installed")
	}
	n := os.Getpid()%1000 + rand.Intn(1000)*1000
	bridge := fmt.Sprintf("xct%d", n%10000000)
	subnet := fmt.Sprintf("10.%d.%d.0/24", 232+rand.Intn(20), rand.Intn(250))
	// A short exec root: a shim's socket path must fit 107 bytes, and
	// the harness's temporary directory is long.
	execRoot, err := os.MkdirTemp("/tmp", "xc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the daemon stopped (cleanups run in reverse)
		unmountUnder(execRoot)
		os.RemoveAll(execRoot)
		dropNetwork(bridge, subnet)
	})
	e := newDaemon(t, append([]string{"--bridge", bridge, "--bip", subnet, "--exec-root", execRoot}, daemonArgs...)...)
	e.exec = execRoot
	t.Cleanup(func() {
		// The daemon's containers go with the test: kill their shims'
		// containers before the daemon's files are removed.
		c := e.client()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if e.cmd == nil {
			return
		}
		list, _ := c.ContainerList(ctx, client.ContainerListOptions{All: true})
		for _, s := range list {
			c.ContainerRemove(ctx, s.ID, true, true)
		}
	})
	rootfs := filepath.Join(e.dir, "rootfs.tar")
	if r := run(t, nil, nil, "tar", "-C", "/", "-cf", rootfs, "bin/busybox"); r.code != 0 {
		t.Fatalf("tar: %s", r)
	}
	e.ok("import", rootfs, "ct/bb:1", "-c", `ENV PATH=/bin`, "-c", `CMD ["/bin/busybox","sh"]`)
	return &ctrEnv{env: e, c: e.client(), ctx: context.Background(), bridge: bridge, subnet: subnet}
}

// create makes a container running busybox with args.
func (e *ctrEnv) create(hc *types.HostConfig, args ...string) (string, error) {
	req := &types.ContainerCreateRequest{HostConfig: hc}
	req.Image = "ct/bb:1"
	req.Cmd = append([]string{"/bin/busybox"}, args...)
	resp, err := e.c.ContainerCreate(e.ctx, "", "", req)
	return resp.ID, err
}

// runD is `run -d`: create and start, failing the test on error.
func (e *ctrEnv) runD(hc *types.HostConfig, args ...string) string {
	e.t.Helper()
	id, err := e.create(hc, args...)
	if err != nil {
		e.t.Fatalf("create %v: %v", args, err)
	}
	if err := e.c.ContainerStart(e.ctx, id); err != nil {
		e.t.Fatalf("start %v: %v", args, err)
	}
	return id
}

func (e *ctrEnv) inspect(id string) types.ContainerJSON {
	e.t.Helper()
	j, _, err := e.c.ContainerInspect(e.ctx, id, false)
	if err != nil {
		e.t.Fatalf("inspect %s: %v", id, err)
	}
	return j
}

// wait waits for condition and returns the exit code.
func (e *ctrEnv) wait(id, condition string) int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	resc, errc := e.c.ContainerWait(ctx, id, condition)
	select {
	case r := <-resc:
		return r.StatusCode
	case err := <-errc:
		e.t.Fatalf("wait %s %s: %v", id, condition, err)
	}
	return -1
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestContainerLifecycle(t *testing.T) {
	e := newCtrEnv(t)
	id := e.runD(nil, "sleep", "300")
	j := e.inspect(id)
	if !j.State.Running || j.State.Pid <= 0 || j.State.Status != "running" {
		t.Fatalf("after start: %+v", j.State)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", j.State.Pid)); err != nil {
		t.Fatalf("the container's pid %d does not exist: %v", j.State.Pid, err)
	}
	if got := e.ok("ps", "-q", "--no-trunc"); !strings.Contains(got, id) {
		t.Errorf("ps does not list the running container: %q", got)
	}
	if err := e.c.ContainerStart(e.ctx, id); err != nil {
		t.Errorf("starting a running container: %v (want no error: 304)", err)
	}

	// busybox sleep as pid 1 ignores SIGTERM: stop kills it after 1 s.
	one := 1
	began := time.Now()
	if err := e.c.ContainerStop(e.ctx, id, &one); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(began); took < 900*time.Millisecond || took > 8*time.Second {
		t.Errorf("stop -t 1 took %v", took)
	}
	j = e.inspect(id)
	if j.State.Running || j.State.Status != "exited" || j.State.ExitCode != 137 {
		t.Errorf("after stop: %+v", j.State)
	}
	assertNoLeftovers(t, e, id)

	if err := e.c.ContainerStart(e.ctx, id); err != nil {
		t.Fatalf("start again: %v", err)
	}
	pid := e.inspect(id).State.Pid
	zero := 0
	if err := e.c.ContainerRestart(e.ctx, id, &zero); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if j := e.inspect(id); !j.State.Running || j.State.Pid == pid {
		t.Errorf("after restart: %+v (old pid %d)", j.State, pid)
	}
	if err := e.c.ContainerKill(e.ctx, id, "KILL"); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if code := e.wait(id, "not-running"); code != 137 {
		t.Errorf("exit code after kill = %d, want 137", code)
	}
	if err := e.c.ContainerKill(e.ctx, id, ""); err == nil || !strings.Contains(err.Error(), "is not running") {
		t.Errorf("kill of a stopped container: %v", err)
	}

	// rm of a running container needs force.
	if err := e.c.ContainerStart(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.c.ContainerRemove(e.ctx, id, false, false); err == nil || !strings.Contains(err.Error(), "You cannot remove a running container") {
		t.Errorf("rm without force: %v", err)
	}
	if err := e.c.ContainerRemove(e.ctx, id, true, false); err != nil {
		t.Fatalf("rm -f: %v", err)
	}
	if _, _, err := e.c.ContainerInspect(e.ctx, id, false); err == nil {
		t.Errorf("inspect after rm -f succeeded")
	}
	assertNoLeftovers(t, e, id)
	if _, err := os.Stat(filepath.Join(e.data, "containers", id)); !os.IsNotExist(err) {
		t.Errorf("the removed container's directory is still there: %v", err)
	}
}

func TestExitCodesAndAutoRemove(t *testing.T) {
	e := newCtrEnv(t)
	id, err := e.create(nil, "sh", "-c", "echo out; echo err >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	resc, errc := e.c.ContainerWait(e.ctx, id, "next-exit")
	if err := e.c.ContainerStart(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-resc:
		if r.StatusCode != 3 {
			t.Errorf("exit code %d, want 3", r.StatusCode)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("wait next-exit timed out")
	}
	log, _ := os.ReadFile(filepath.Join(e.data, "containers", id, id+"-json.log"))
	if !strings.Contains(string(log), `"log":"out\n","stream":"stdout"`) || !strings.Contains(string(log), `"log":"err\n","stream":"stderr"`) {
		t.Errorf("log:\n%s", log)
	}

	// --rm: the container goes once it exits.
	rm, err := e.create(&types.HostConfig{AutoRemove: true, NetworkMode: "none"}, "sh", "-c", "exit 5")
	if err != nil {
		t.Fatal(err)
	}
	resc, _ = e.c.ContainerWait(e.ctx, rm, "removed")
	if err := e.c.ContainerStart(e.ctx, rm); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-resc:
		if r.StatusCode != 5 {
			t.Errorf("--rm exit code %d, want 5", r.StatusCode)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("wait removed timed out")
	}
	if _, _, err := e.c.ContainerInspect(e.ctx, rm, false); err == nil {
		t.Errorf("the --rm container is still there")
	}
	assertNoLeftovers(t, e, rm)

	// A missing command: 127, and the container stays "created".
	req := &types.ContainerCreateRequest{}
	req.Image, req.Cmd = "ct/bb:1", []string{"nope"}
	resp, err := e.c.ContainerCreate(e.ctx, "", "", req)
	if err != nil {
		t.Fatal(err)
	}
	bad := resp.ID
	err = e.c.ContainerStart(e.ctx, bad)
	if err == nil || !strings.Contains(err.Error(), `exec: "nope": executable file not found in $PATH`) {
		t.Errorf("start of a missing command: %v", err)
	}
	if j := e.inspect(bad); j.State.ExitCode != 127 || j.State.Status != "created" || j.State.Error == "" {
		t.Errorf("after a failed start: %+v", j.State)
	}
	assertNoLeftovers(t, e, bad)
}

// daemonCPU is the daemon's user+system CPU time so far.
func daemonCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func TestRestartPolicies(t *testing.T) {
	e := newCtrEnv(t)
	cpu0 := daemonCPU(t, e.cmd.Process.Pid)
	always := e.runD(&types.HostConfig{RestartPolicy: types.RestartPolicy{Name: "always"}, NetworkMode: "none"}, "sh", "-c", "exit 1")
	onFailure := e.runD(&types.HostConfig{RestartPolicy: types.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}, NetworkMode: "none"}, "sh", "-c", "exit 2")
	time.Sleep(3 * time.Second)
	// Back-off 0.1, 0.2, 0.4, 0.8, 1.6 s: about 4-5 restarts in 3 s.
	if n := e.inspect(always).RestartCount; n < 2 || n > 8 {
		t.Errorf("restart always: %d restarts in 3 s, want a few (back-off)", n)
	}
	if used := daemonCPU(t, e.cmd.Process.Pid) - cpu0; used > 1500*time.Millisecond {
		t.Errorf("the daemon used %v of CPU in 3 s of restarts", used)
	}
	eventually(t, 10*time.Second, "on-failure:2 to stop", func() bool {
		j := e.inspect(onFailure)
		return j.State.Status == "exited" && j.RestartCount == 2
	})
	time.Sleep(time.Second)
	if j := e.inspect(onFailure); j.RestartCount != 2 || j.State.ExitCode != 2 {
		t.Errorf("on-failure:2 after it stopped: restarts %d, %+v", j.RestartCount, j.State)
	}
	// A stop cancels the pending restart.
	ten := 10
	if err := e.c.ContainerStop(e.ctx, always, &ten); err != nil {
		t.Fatalf("stop of a restarting container: %v", err)
	}
	n := e.inspect(always).RestartCount
	time.Sleep(2 * time.Second)
	if j := e.inspect(always); j.State.Status != "exited" || j.RestartCount != n {
		t.Errorf("after stop: %s, restarts %d then %d", j.State.Status, n, j.RestartCount)
	}
}

func TestDaemonKillKeepsContainers(t *testing.T) {
	e := newCtrEnv(t)
	script := "echo before; sleep 2; echo after; exec sleep 300"
	ids := []string{
		e.runD(nil, "sh", "-c", script),
		e.runD(&types.HostConfig{NetworkMode: "none"}, "sh", "-c", script),
		e.runD(&types.HostConfig{RestartPolicy: types.RestartPolicy{Name: "always"}}, "sh", "-c", script),
	}
	// Ten in all, as the fault test asks.
	for len(ids) < 10 {
		ids = append(ids, e.runD(nil, "sh", "-c", script))
	}
	dies := e.runD(nil, "sh", "-c", "sleep 2; exit 7")
	pids := map[string]int{}
	for _, id := range ids {
		pids[id] = e.inspect(id).State.Pid
	}
	e.kill()
	time.Sleep(3 * time.Second) // "after" is written and one container exits while the daemon is away
	e.start("--bridge", e.bridge, "--bip", e.subnet, "--exec-root", e.exec)
	e.c = e.client()
	for _, id := range ids {
		j := e.inspect(id)
		if !j.State.Running || j.State.Pid != pids[id] || j.RestartCount != 0 {
			t.Errorf("%s after the daemon's restart: %+v restarts %d (pid was %d)", id[:12], j.State, j.RestartCount, pids[id])
		}
		log, _ := os.ReadFile(filepath.Join(e.data, "containers", id, id+"-json.log"))
		if !strings.Contains(string(log), "before") || !strings.Contains(string(log), "after") {
			t.Errorf("%s log incomplete:\n%s", id[:12], log)
		}
	}
	if j := e.inspect(dies); j.State.Status != "exited" || j.State.ExitCode != 7 {
		t.Errorf("the container that exited during the downtime: %+v", j.State)
	}
	assertNoLeftovers(t, e, dies)
	// Still supervised: a stop works and is seen.
	one := 1
	if err := e.c.ContainerStop(e.ctx, ids[0], &one); err != nil {
		t.Fatal(err)
	}
	if j := e.inspect(ids[0]); j.State.Running {
		t.Errorf("after stop: %+v", j.State)
	}
	assertNoLeftovers(t, e, ids[0])
}

func TestBadOptionsLeaveNothing(t *testing.T) {
	e := newCtrEnv(t)
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	cases := []struct {
		name string
		hc   types.HostConfig
		want string
	}{
		{"unknown network", types.HostConfig{NetworkMode: "nonet"}, "network nonet not found"},
		{"bad restart policy", types.HostConfig{RestartPolicy: types.RestartPolicy{Name: "sometimes"}}, "invalid restart policy"},
		{"restart with rm", types.HostConfig{AutoRemove: true, RestartPolicy: types.RestartPolicy{Name: "always"}}, "Conflicting options: --restart and --rm"},
		{"bind source missing", types.HostConfig{Mounts: []types.Mount{{Type: "bind", Source: "/nonexistent-xmgr", Target: "/x"}}}, `invalid mount config for type "bind": bind source path does not exist: /nonexistent-xmgr`},
		{"memory", types.HostConfig{Resources: types.Resources{Memory: 1 << 20}}, "Minimum memory limit allowed is 6MB"},
		{"cpus", types.HostConfig{Resources: types.Resources{NanoCPUs: 1000e9}}, "Range of CPUs is from 0.01 to"},
		{"port in use", types.HostConfig{PortBindings: types.PortMap{"80/tcp": {{HostPort: busy}}}}, "port is already allocated"},
	}
	for _, tc := range cases {
		before, _ := e.c.ContainerList(e.ctx, client.ContainerListOptions{All: true})
		hc := tc.hc
		id, err := e.create(&hc, "sleep", "300")
		if err == nil {
			err = e.c.ContainerStart(e.ctx, id)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if id == "" {
			after, _ := e.c.ContainerList(e.ctx, client.ContainerListOptions{All: true})
			if len(after) != len(before) {
				t.Errorf("%s: a failed create left a container", tc.name)
			}
		} else {
			assertNoLeftovers(t, e, id)
		}
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", e.bridge).Output(); len(out) > 0 {
		t.Errorf("veths left on the daemon's bridge:\n%s", out)
	}
}

// assertNoLeftovers checks that a container that does not run holds
// nothing: no mount under the daemon's roots, no netns, no cgroup, no
// shim, no bundle, no veth or iptables rule naming it.
func assertNoLeftovers(t *testing.T, e *ctrEnv, id string) {
	t.Helper()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, id) {
			t.Errorf("%s: mount left: %s", id[:12], line)
		}
	}
	for _, p := range []string{filepath.Join(e.exec, "containers", id), filepath.Join(e.exec, "netns", id), filepath.Join(e.exec, "shims", id)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s: %s is left", id[:12], p)
		}
	}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*/xmgr/" + id)
	cg2, _ := filepath.Glob("/sys/fs/cgroup/xmgr/" + id)
	if len(cg)+len(cg2) > 0 {
		t.Errorf("%s: cgroups left: %v", id[:12], append(cg, cg2...))
	}
	out, _ := exec.Command("pgrep", "-f", "xrt-shim.*"+id).Output()
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("%s: shim process left: %s", id[:12], out)
	}
	rules, _ := exec.Command("iptables-save").Output()
	if strings.Contains(string(rules), id[:12]) {
		t.Errorf("%s: iptables rules name it", id[:12])
	}
}

// dropNetwork deletes the test daemon's bridge and the NAT and forwarding
// rules of its default network, which outlive the daemon by design.
func dropNetwork(bridge, subnet string) {
	exec.Command("ip", "link", "del", bridge).Run()
	for _, table := range []string{"filter", "nat"} {
		out, _ := exec.Command("iptables-save", "-t", table).Output()
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "-A ") || !(strings.Contains(line, " "+bridge+" ") || strings.Contains(line, subnet)) {
				continue
			}
			// The rules have no quoted spaces but the comment's.
			args := []string{"-t", table, "-D"}
			for i, f := range strings.Fields(line[3:]) {
				if i > 0 || f != "" {
					args = append(args, strings.Trim(f, `"`))
				}
			}
			exec.Command("iptables", args...).Run()
		}
	}
}
