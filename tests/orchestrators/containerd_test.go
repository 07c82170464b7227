package orchestrators

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// containerdEnv is a private containerd: its own root, state, socket and
// config under dir, and a containerd namespace no one else uses.
type containerdEnv struct {
	ctr     string
	address string // the gRPC socket
	ns      string
	daemon  *daemon
}

// startContainerd starts containerd on a private config. Plugins that
// write outside their root (opt: /opt/containerd) or that these tests do
// not use (other snapshotters, tracing, and CRI unless cri holds its
// configuration) are disabled, which also makes it start faster.
func startContainerd(t *testing.T, xrt, dir, ns, cri string) *containerdEnv {
	t.Helper()
	bin := tool(t, "containerd", "/usr/bin/containerd", "containerd")
	ctr := tool(t, "containerd", "/usr/bin/ctr", "ctr")
	tool(t, "containerd", "/usr/bin/containerd-shim-runc-v2", "containerd-shim-runc-v2")
	leftOnHost(t, "/run/containerd/s", "/run/containerd") // shim sockets: a fixed place in containerd 1.6

	address := filepath.Join(dir, "containerd.sock")
	disableCRI := `
  "io.containerd.grpc.v1.cri",`
	if cri != "" {
		disableCRI = ""
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s
  "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
[grpc]
  address = %q
[ttrpc]
  address = %q
%s`, filepath.Join(dir, "containerd-root"), filepath.Join(dir, "containerd-state"), disableCRI, address, address+".ttrpc", cri)
	configPath := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &containerdEnv{ctr: ctr, address: address, ns: ns}
	e.daemon = startDaemon(t, dir, "containerd", func() bool {
		return socketReady(address)() && exec.Command(ctr, "--address", address, "version").Run() == nil
	}, bin, "--config", configPath, "--log-level", "warn")
	// Containers and shims go before containerd stops, so that the shim
	// sockets are gone when leftOnHost looks at /run/containerd/s.
	t.Cleanup(func() {
		forceDeleteContainers(t, xrt, dir)
		killProcessesNaming(t, dir, true)
	})
	return e
}

// cmd is a ctr command line against this containerd and namespace.
func (e *containerdEnv) cmd(args ...string) []string {
	return append([]string{e.ctr, "--address", e.address, "--namespace", e.ns}, args...)
}

// removeOnCleanup takes the containers ids away through containerd when
// the test ends, passing or not: task killed and deleted, container
// deleted, the shim's socket removed if a dead shim left it.
func (e *containerdEnv) removeOnCleanup(t *testing.T, ids ...string) {
	t.Cleanup(func() {
		for _, id := range ids {
			for _, args := range [][]string{{"task", "kill", "-s", "SIGKILL", id}, {"task", "rm", "-f", id}, {"containers", "rm", id}} {
				_ = exec.Command(e.ctr, e.cmd(args...)[1:]...).Run()
			}
			_ = os.Remove(shimSocket(e.address, e.ns, id))
		}
	})
}

// TestContainerd runs busybox containers through `ctr run --runc-binary`
// with xrt: a foreground run, then a detached container that is exec'd
// into, listed (task ps), paused, resumed, stopped with SIGTERM and removed.
func TestContainerd(t *testing.T) {
	xrt := xrtBinary(t)
	ns := "xrt-orch-" + suffix()
	dir := workDir(t, xrt, "/"+ns) // ctr's default cgroup is /<namespace>/<id>
	e := startContainerd(t, xrt, dir, ns, "")
	wrapper, calls := loggingWrapper(t, dir, xrt)
	run(t, e.daemon, e.cmd("images", "import", writeImage(t, dir))...)

	runcRoot := filepath.Join(dir, "runc")
	xrtRoot := filepath.Join(runcRoot, ns) // the shim adds the namespace
	fifoDir := filepath.Join(dir, "fifo")  // else ctr uses /run/containerd/fifo
	runFlags := []string{"--runc-binary", wrapper, "--runc-root", runcRoot, "--fifo-dir", fifoDir}
	ctrRun := func(args ...string) []string {
		return e.cmd(append(append([]string{"run"}, runFlags...), args...)...)
	}
	e.removeOnCleanup(t, "orch-fg", "orch-code", "orch-bg")

	t.Run("run --rm", func(t *testing.T) {
		out := run(t, e.daemon, ctrRun("--rm", imageRef, "orch-fg", "sh", "-c", "echo hello from pid $$; cat /proc/self/cgroup")...)
		if !strings.Contains(out, "hello from pid 1") {
			t.Errorf("want the container's sh as pid 1, got:\n%s", out)
		}
		if want := "/" + ns + "/orch-fg"; !strings.Contains(out, want) {
			t.Errorf("want the container in cgroup %s, got:\n%s", want, out)
		}
		requireGone(t, xrt, xrtRoot, "orch-fg", "/"+ns+"/orch-fg")
	})

	t.Run("exit code", func(t *testing.T) {
		_, code, stderr := runCode(t, ctrRun("--rm", imageRef, "orch-code", "sh", "-c", "exit 3")...)
		if code != 3 {
			t.Errorf("ctr run of `exit 3`: exit %d, want 3; stderr: %s", code, stderr)
		}
		requireGone(t, xrt, xrtRoot, "orch-code", "/"+ns+"/orch-code")
	})

	t.Run("detached, exec, stop, remove", func(t *testing.T) {
		const id = "orch-bg"
		// sh as pid 1 ignores SIGTERM unless it traps it: the trap proves
		// the signal got through.
		run(t, e.daemon, ctrRun("-d", imageRef, id, "sh", "-c", `trap "exit 0" TERM; sleep 1000 & wait`)...)
		if s := xrtState(t, xrt, xrtRoot, id); s != "running" {
			t.Fatalf("xrt state of %s: %q, want running", id, s)
		}

		out := run(t, e.daemon, e.cmd("task", "exec", "--fifo-dir", fifoDir, "--exec-id", "exec1", id,
			"sh", "-c", "echo exec-ok; tr '\\0' ' ' </proc/1/cmdline; echo; cat /proc/self/cgroup")...)
		for _, want := range []string{"exec-ok", "trap", "/" + ns + "/" + id} {
			if !strings.Contains(out, want) {
				t.Errorf("exec output lacks %q (pid namespace and cgroup of the container):\n%s", want, out)
			}
		}
		if _, code, stderr := runCode(t, e.cmd("task", "exec", "--fifo-dir", fifoDir, "--exec-id", "exec2", id, "sh", "-c", "exit 7")...); code != 7 {
			t.Errorf("exec of `exit 7`: exit %d, want 7; stderr: %s", code, stderr)
		}

		if out := run(t, e.daemon, e.cmd("task", "ps", id)...); len(strings.Fields(out)) < 6 { // header + 2 pids (sh, sleep)
			t.Errorf("task ps %s: want the container's two processes, got:\n%s", id, out)
		}
		run(t, e.daemon, e.cmd("task", "pause", id)...)
		requireTaskStatus(t, e, id, "PAUSED")
		run(t, e.daemon, e.cmd("task", "resume", id)...)
		requireTaskStatus(t, e, id, "RUNNING")

		run(t, e.daemon, e.cmd("task", "kill", id)...) // SIGTERM
		waitFor(t, id+" to stop", func() bool { return taskStatus(t, e, id) == "STOPPED" })
		_, code, stderr := runCode(t, e.cmd("task", "rm", id)...)
		if code != 0 || strings.Contains(stderr, "non-zero exit code") {
			t.Errorf("task rm %s: exit %d, stderr: %s (want the trap's exit 0)", id, code, stderr)
		}
		run(t, e.daemon, e.cmd("containers", "rm", id)...)
		requireGone(t, xrt, xrtRoot, id, "/"+ns+"/"+id)
	})

	requireCalls(t, calls, "create", "start", "exec", "kill", "delete", "ps", "pause", "resume")
	c, _ := runtimeCalls(t, calls)
	t.Logf("xrt commands containerd made: %v", c)
}

// taskStatus is the status `ctr task ls` shows for id ("" if none).
func taskStatus(t *testing.T, e *containerdEnv, id string) string {
	t.Helper()
	out, _, _ := runCode(t, e.cmd("task", "ls")...)
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

func requireTaskStatus(t *testing.T, e *containerdEnv, id, want string) {
	t.Helper()
	if got := taskStatus(t, e, id); got != want {
		t.Errorf("task %s: status %q, want %q", id, got, want)
	}
}
