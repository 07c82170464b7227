package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHostSnapshotSeesChanges checks the checker the bad-input tests rely
// on: a mount, a directory entry and a process in another mount namespace
// must each show up. Sequential, as it looks at the whole host.
func TestHostSnapshotSeesChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	snap := snapshotHost(t, dir)
	if c := snap.changes(t); len(c) != 0 {
		t.Fatalf("changes right after the snapshot: %q", c)
	}

	mnt := filepath.Join(dir, "mnt")
	mkdir(t, mnt)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	cmd := exec.Command("unshare", "--mount", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ours, _ := os.Readlink("/proc/self/ns/mnt")
	waitFor(t, "unshare to enter a mount namespace", func() bool {
		ns, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/mnt")
		return ns != "" && ns != ours
	})

	c := strings.Join(snap.changes(t), "\n")
	for _, want := range []string{"mount table", `["mnt"]`, "pid " + strconv.Itoa(cmd.Process.Pid)} {
		if !strings.Contains(c, want) {
			t.Errorf("want %q among the changes, got:\n%s", want, c)
		}
	}
}
