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

// criInstall is how to get crictl, which Debian does not package.
const criInstall = "GOBIN=/usr/local/bin go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0 (or set $CRICTL)"

// criConfig is containerd's CRI plugin with a runtime handler "xrt": what
// a Kubernetes node needs for `runtimeClassName: xrt` (docs/orchestrators.md).
// The rest keeps the plugin inside the test's directory and off the
// network: the sandbox image is the local pause image, CNI is never used
// (the pod is on the host network), no AppArmor profile is loaded, and
// oom_score_adj is not lowered below containerd's own (this VM lacks
// CAP_SYS_RESOURCE; a kubelet's sandbox asks for -998).
const criConfig = `[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xrt]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xrt.options]
    BinaryName = %q
    Root = %q
`

// TestKubernetesCRI drives containerd's CRI plugin as a kubelet does for a
// pod with `runtimeClassName: xrt` (RunPodSandbox with runtime handler
// xrt), through crictl: a sandbox, a container in it that shares its pid
// namespace, exec, stop, and removal of both.
func TestKubernetesCRI(t *testing.T) {
	xrt := xrtBinary(t)
	crictl := os.Getenv("CRICTL")
	if crictl == "" {
		var err error
		if crictl, err = exec.LookPath("crictl"); err != nil {
			t.Skipf("crictl not found: %s", criInstall)
		}
	}
	parent := "/xrt-orch-cri-" + suffix()
	dir := workDir(t, xrt, parent)
	wrapper, calls := loggingWrapper(t, dir, xrt)
	xrtRoot := filepath.Join(dir, "xrt-root")
	const ns = "k8s.io" // the CRI plugin's containerd namespace
	e := startContainerd(t, xrt, dir, ns, fmt.Sprintf(criConfig, pauseRef,
		filepath.Join(dir, "cni", "bin"), filepath.Join(dir, "cni", "conf"), wrapper, xrtRoot))
	run(t, e.daemon, e.cmd("images", "import", writeImage(t, dir))...)

	cri := func(args ...string) []string {
		return append([]string{crictl, "--config", "/dev/null", "--runtime-endpoint", "unix://" + e.address,
			"--image-endpoint", "unix://" + e.address, "--timeout", "60s"}, args...)
	}
	t.Cleanup(func() { _, _, _ = runCode(t, cri("rmp", "--force", "--all")...) })

	pod := writeJSON(t, dir, "pod.json", map[string]any{
		"metadata": map[string]any{"name": "xrt-pod", "namespace": "default", "uid": "uid-" + filepath.Base(dir)},
		"linux": map[string]any{
			"cgroup_parent":    parent,
			"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}, // NODE
		},
		"log_directory": filepath.Join(dir, "pod-logs"),
	})
	ctrConfig := writeJSON(t, dir, "container.json", map[string]any{
		"metadata": map[string]any{"name": "hello"},
		"image":    map[string]any{"image": imageRef},
		"command":  []string{"sh", "-c", `trap "exit 0" TERM; sleep 1000 & wait`},
		"log_path": "hello.log",
	})

	podID := strings.TrimSpace(run(t, e.daemon, cri("runp", "--runtime", "xrt", pod)...))
	if s := xrtState(t, xrt, filepath.Join(xrtRoot, ns), podID); s != "running" {
		t.Fatalf("xrt state of the sandbox %s: %q, want running", podID, s)
	}
	id := strings.TrimSpace(run(t, e.daemon, cri("create", podID, ctrConfig, pod)...))
	run(t, e.daemon, cri("start", id)...)

	// The container joined the sandbox's pid namespace (by path, as
	// xrt's nsenter does before the Go runtime starts): its pid 1 is the
	// pause process.
	out := run(t, e.daemon, cri("exec", "--sync", id, "sh", "-c", "echo exec-ok; tr '\\0' ' ' </proc/1/cmdline; echo; cat /proc/self/cgroup")...)
	for _, want := range []string{"exec-ok", "sleep 2147483647", parent + "/" + id} {
		if !strings.Contains(out, want) {
			t.Errorf("exec output lacks %q:\n%s", want, out)
		}
	}

	run(t, e.daemon, cri("stop", "--timeout", "30", id)...)
	if out := run(t, e.daemon, cri("inspect", "--output", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", id)...); strings.TrimSpace(out) != "CONTAINER_EXITED 0" {
		t.Errorf("after stop: %q, want CONTAINER_EXITED 0 (SIGTERM trapped)", out)
	}
	run(t, e.daemon, cri("rm", id)...)
	run(t, e.daemon, cri("stopp", podID)...)
	run(t, e.daemon, cri("rmp", podID)...)
	for _, c := range []string{id, podID} {
		requireGone(t, xrt, filepath.Join(xrtRoot, ns), c, parent+"/"+c)
	}

	requireCalls(t, calls, "create", "start", "exec", "kill", "delete")
	c, _ := runtimeCalls(t, calls)
	t.Logf("xrt commands the CRI plugin made: %v", c)
}

// writeJSON writes v as dir/name and returns the path.
func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
