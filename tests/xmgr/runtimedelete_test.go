package xmgr

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailedRuntimeDeleteIsRetried: when the runtime's delete of an exited
// container fails (as a cgroup still busy can make it), the shim says so,
// and the daemon logs it and deletes again with --force: nothing is left
// in the runtime's state.
func TestFailedRuntimeDeleteIsRetried(t *testing.T) {
	xrt := filepath.Join(filepath.Dir(xmgrBin), "xrt")
	if _, err := os.Stat(xrt); err != nil {
		if xrt, err = exec.LookPath("xrt"); err != nil {
			t.Skip("xrt is neither beside xmgr nor in PATH (make build)")
		}
	}
	dir := t.TempDir()
	refused := filepath.Join(dir, "refused")
	wrapper := filepath.Join(dir, "xrt-refuses-one-delete")
	script := fmt.Sprintf(`#!/bin/sh
for a; do
	if [ "$a" = delete ] && [ ! -e %[1]s ]; then
		touch %[1]s
		echo "delete refused once by the test" >&2
		exit 1
	fi
done
exec %[2]s "$@"
`, refused, xrt)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newCtrEnv(t, "--default-runtime", wrapper)
	root := filepath.Join(e.exec, "xrt")
	t.Cleanup(func() { // what a failure left: the container's state and cgroups
		out, _ := exec.Command(xrt, "--root", root, "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command(xrt, "--root", root, "delete", "--force", id).Run()
		}
	})
	if r := e.xmgr("run", "--rm", "--network", "none", "ct/bb:1", "/bin/busybox", "true"); r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	if _, err := os.Stat(refused); err != nil {
		t.Fatal("the runtime was never asked to delete the container")
	}
	log, _ := os.ReadFile(filepath.Join(e.dir, "daemon.log"))
	if !strings.Contains(string(log), "delete refused once by the test") {
		t.Errorf("the daemon did not log the shim's failed delete:\n%s", tail(string(log), 3000))
	}
	out, err := exec.Command(xrt, "--root", root, "list", "-q").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("the runtime still knows containers: %v: %q", err, out)
	}
}
