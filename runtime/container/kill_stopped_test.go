package container

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKillStopped checks kill of a stopped container answers as runc's
// does, since containerd reads the answer: without --all an error saying
// "container not running" (the shim's "already finished"), with --all a
// sweep of what is left that finds nothing and succeeds, whether the
// container has no cgroup or its cgroup is already gone.
func TestKillStopped(t *testing.T) {
	self := os.Getpid()
	start, _, err := procStat(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, cgroup := range []string{"", "/xrt-test-gone-" + strconv.FormatInt(time.Now().UnixNano(), 36)} {
		// Our own pid with another start time: a pid reused, so stopped.
		c := &Container{dir: t.TempDir(), State: State{ID: "k1", Pid: self, PidStartTime: start + 1, CgroupPath: cgroup}}
		if st := c.Status(); st != "stopped" {
			t.Fatalf("status %s, want stopped", st)
		}
		err := c.Kill(unix.SIGKILL, false)
		if err == nil || !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "container not running") {
			t.Errorf("cgroup %q: kill of a stopped container: %v, want ErrState saying \"container not running\"", cgroup, err)
		}
		if err := c.Kill(unix.SIGKILL, true); err != nil {
			t.Errorf("cgroup %q: kill --all of a stopped container: %v, want nil", cgroup, err)
		}
	}
}
