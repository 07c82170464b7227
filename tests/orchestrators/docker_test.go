package orchestrators

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerEnv is a private dockerd on a private containerd: data root, exec
// root, socket, pid file, cgroup parent and containerd namespaces all its
// own; no bridge, no iptables rules.
type dockerEnv struct {
	docker string
	host   string // -H value
	config string // the client's config directory (so ~/.docker is untouched)
	daemon *daemon
	cd     *containerdEnv
}

// dockerRuntimes are the runtimes (name -> path) a dockerd gets beside
// runc: on its command line (--add-runtime) and in its daemon.json.
type dockerRuntimes struct{ flags, config map[string]string }

// startDocker starts dockerd with the runtimes added. dockerd is given its
// own containerd (--containerd): otherwise it would use a containerd
// already listening on /run/containerd/containerd.sock.
func startDocker(t *testing.T, xrt, dir, cgroupParent string, runtimes dockerRuntimes) *dockerEnv {
	t.Helper()
	dockerd := tool(t, "docker.io", "/usr/sbin/dockerd", "dockerd")
	docker := tool(t, "docker.io", "/usr/bin/docker", "docker")
	// dockerd 20.10 writes its trust key and plugin directory at fixed places.
	leftOnHost(t, "/etc/docker/key.json", "/etc/docker", "/run/docker/plugins", "/run/docker")
	ns := filepath.Base(dir)
	cd := startContainerd(t, xrt, dir, ns, "")

	daemonJSON := filepath.Join(dir, "daemon.json")
	config := map[string]map[string]map[string]string{"runtimes": {}}
	for name, path := range runtimes.config {
		config["runtimes"][name] = map[string]string{"path": path}
	}
	b, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(daemonJSON, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	e := &dockerEnv{docker: docker, host: "unix://" + sock, config: filepath.Join(dir, "client"), cd: cd}
	argv := []string{dockerd,
		"--config-file", daemonJSON,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-H", e.host,
		"--containerd", cd.address,
		"--containerd-namespace", ns,
		"--containerd-plugins-namespace", ns + "-plugins",
		"--cgroup-parent", cgroupParent,
		"--bridge=none", "--iptables=false", "--ip-masq=false",
		"--log-level", "warn",
	}
	for name, path := range runtimes.flags {
		argv = append(argv, "--add-runtime", name+"="+path)
	}
	e.daemon = startDaemon(t, dir, "dockerd", func() bool {
		return socketReady(sock)() && exec.Command(docker, e.cmd("version")[1:]...).Run() == nil
	}, argv...)
	return e
}

// cmd is a docker command line against this daemon.
func (e *dockerEnv) cmd(args ...string) []string {
	return append([]string{e.docker, "--config", e.config, "-H", e.host}, args...)
}

// TestDocker runs busybox containers through dockerd with xrt added as a
// runtime (--add-runtime xrt=...; docker run --runtime xrt; also as
// "xrt-json" in daemon.json's "runtimes"): a foreground
// run, a run with a tty, one with limits, then a detached container that
// is exec'd into (plain, as another user, with a tty), listed (top),
// paused, resumed, updated, stopped and removed.
func TestDocker(t *testing.T) {
	xrt := xrtBinary(t)
	parent := "/xrt-orch-docker-" + suffix()
	dir := workDir(t, xrt, parent)
	wrapper, calls := loggingWrapper(t, dir, xrt)
	e := startDocker(t, xrt, dir, parent, dockerRuntimes{
		flags:  map[string]string{"xrt": wrapper},
		config: map[string]string{"xrt-json": wrapper},
	})
	run(t, e.daemon, e.cmd("load", "-i", writeImage(t, dir))...)
	dockerRun := func(args ...string) []string {
		return e.cmd(append([]string{"run", "--runtime", "xrt", "--network", "none"}, args...)...)
	}
	const name = "xrt-orch-bg"
	t.Cleanup(func() {
		_ = exec.Command(e.docker, e.cmd("rm", "-f", name)[1:]...).Run()
		for _, id := range createdIDs(calls) { // what a killed shim would leave
			_ = os.Remove(shimSocket(e.cd.address, e.cd.ns, id))
		}
	})
	// runRm runs a --rm container and checks it left nothing in xrt's state
	// or the cgroups once docker returns.
	runs := 0
	runRm := func(t *testing.T, args ...string) (string, int, string) {
		t.Helper()
		runs++
		cidfile := filepath.Join(dir, fmt.Sprintf("cid-%d", runs))
		out, code, stderr := runCode(t, dockerRun(append([]string{"--rm", "--cidfile", cidfile}, args...)...)...)
		b, err := os.ReadFile(cidfile)
		if err != nil {
			t.Fatalf("docker run wrote no container id: %v; stderr: %s", err, stderr)
		}
		id := string(b)
		requireGone(t, xrt, createRoot(t, calls, id), id, parent+"/"+id)
		return out, code, stderr
	}

	t.Run("run --rm", func(t *testing.T) {
		out, code, stderr := runRm(t, imageRef, "sh", "-c", "echo hello from pid $$; cat /proc/self/cgroup")
		if code != 0 {
			t.Fatalf("docker run: exit %d, stderr: %s\ndockerd log:\n%s", code, stderr, e.daemon.tail())
		}
		if !strings.Contains(out, "hello from pid 1") {
			t.Errorf("want the container's sh as pid 1, got:\n%s", out)
		}
		if !strings.Contains(out, parent+"/") {
			t.Errorf("want the container under cgroup %s, got:\n%s", parent, out)
		}
	})

	t.Run("runtime from daemon.json", func(t *testing.T) {
		before, _ := runtimeCalls(t, calls)
		out, code, stderr := runRm(t, "--runtime", "xrt-json", imageRef, "echo", "via daemon.json")
		if code != 0 || !strings.Contains(out, "via daemon.json") {
			t.Errorf("docker run --runtime xrt-json: exit %d, %q; stderr: %s", code, out, stderr)
		}
		if after, _ := runtimeCalls(t, calls); after["create"] != before["create"]+1 {
			t.Errorf("docker run --runtime xrt-json made %d xrt create calls, want 1", after["create"]-before["create"])
		}
	})

	t.Run("exit code", func(t *testing.T) {
		if _, code, stderr := runRm(t, imageRef, "sh", "-c", "exit 3"); code != 3 {
			t.Errorf("docker run of `exit 3`: exit %d, want 3; stderr: %s", code, stderr)
		}
	})

	t.Run("command not found", func(t *testing.T) {
		// dockerd picks the exit code from the runtime's message, as a
		// shell would: 127 for a missing command, 126 for one that cannot run.
		for _, tc := range []struct {
			cmd  string
			code int
		}{{"/nonexistent", 127}, {"nonexistent", 127}, {"/etc/passwd", 126}} {
			if _, code, stderr := runRm(t, imageRef, tc.cmd); code != tc.code {
				t.Errorf("docker run of %s: exit %d, want %d; stderr: %s", tc.cmd, code, tc.code, stderr)
			}
		}
	})

	t.Run("tty", func(t *testing.T) {
		out, code, stderr := runRm(t, "-t", imageRef, "tty")
		if code != 0 || !strings.HasPrefix(out, "/dev/pts/") {
			t.Errorf("tty in the container: exit %d, %q, want /dev/pts/N; stderr: %s", code, out, stderr)
		}
	})

	t.Run("limits", func(t *testing.T) {
		// The v1 file where the hierarchy is v1, else the v2 one.
		out, code, stderr := runRm(t, "--memory", "64m", "--pids-limit", "50", imageRef, "sh", "-c",
			"cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "+
				"cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")
		if code != 0 || strings.Fields(out) == nil || strings.Join(strings.Fields(out), " ") != "67108864 50" {
			t.Errorf("--memory 64m --pids-limit 50: exit %d, container sees %q, want 67108864 and 50; stderr: %s", code, out, stderr)
		}
	})

	t.Run("detached, exec, stop, remove", func(t *testing.T) {
		id := strings.TrimSpace(run(t, e.daemon, dockerRun("-d", "--name", name, imageRef,
			"sh", "-c", `trap "exit 0" TERM; sleep 1000 & wait`)...))
		root := createRoot(t, calls, id)
		if s := xrtState(t, xrt, root, id); s != "running" {
			t.Fatalf("xrt state of %s under %s: %q, want running", id, root, s)
		}

		out := run(t, e.daemon, e.cmd("exec", name, "sh", "-c", "echo exec-ok; tr '\\0' ' ' </proc/1/cmdline; echo; cat /proc/self/cgroup")...)
		for _, want := range []string{"exec-ok", "trap", parent + "/" + id} {
			if !strings.Contains(out, want) {
				t.Errorf("exec output lacks %q (pid namespace and cgroup of the container):\n%s", want, out)
			}
		}
		if _, code, stderr := runCode(t, e.cmd("exec", name, "sh", "-c", "exit 7")...); code != 7 {
			t.Errorf("exec of `exit 7`: exit %d, want 7; stderr: %s", code, stderr)
		}
		if out := run(t, e.daemon, e.cmd("exec", "-u", "nobody", name, "id", "-u")...); strings.TrimSpace(out) != "65534" {
			t.Errorf("exec -u nobody: id -u printed %q, want 65534", out)
		}
		if out := run(t, e.daemon, e.cmd("exec", "-t", name, "tty")...); !strings.HasPrefix(out, "/dev/pts/") {
			t.Errorf("exec -t: tty printed %q, want /dev/pts/N", out)
		}

		// What else dockerd asks of a runtime: ps (docker top), pause and
		// resume, update -r.
		if out := run(t, e.daemon, e.cmd("top", name)...); !strings.Contains(out, "sleep 1000") {
			t.Errorf("docker top lacks the container's sleep:\n%s", out)
		}
		run(t, e.daemon, e.cmd("pause", name)...)
		if out := run(t, e.daemon, e.cmd("inspect", "-f", "{{.State.Status}}", name)...); strings.TrimSpace(out) != "paused" {
			t.Errorf("after pause: %q, want paused", out)
		}
		run(t, e.daemon, e.cmd("unpause", name)...)
		run(t, e.daemon, e.cmd("update", "--pids-limit", "77", name)...)
		if out := run(t, e.daemon, e.cmd("exec", name, "sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")...); strings.TrimSpace(out) != "77" {
			t.Errorf("after update --pids-limit 77 the container sees %q", out)
		}

		run(t, e.daemon, e.cmd("stop", "-t", "30", name)...)
		if out := run(t, e.daemon, e.cmd("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)...); strings.TrimSpace(out) != "exited 0" {
			t.Errorf("after stop: %q, want \"exited 0\" (SIGTERM trapped)", out)
		}
		run(t, e.daemon, e.cmd("rm", name)...)
		requireGone(t, xrt, root, id, parent+"/"+id)
	})

	requireCalls(t, calls, "create", "start", "exec", "kill", "delete", "ps", "pause", "resume", "update")
	c, _ := runtimeCalls(t, calls)
	t.Logf("xrt commands dockerd (through containerd) made: %v", c)
}

// createdIDs are the ids of the containers the log shows created.
func createdIDs(log string) []string {
	b, _ := os.ReadFile(log)
	var ids []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); commandOf(f) == "create" {
			ids = append(ids, f[len(f)-1])
		}
	}
	return ids
}

// createRoot is the --root the orchestrator gave xrt when creating id.
func createRoot(t *testing.T, log, id string) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if commandOf(f) != "create" || f[len(f)-1] != id {
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "--root" {
				return f[i+1]
			}
		}
	}
	t.Fatalf("no `xrt --root ... create %s` call in:\n%s", id, b)
	return ""
}
