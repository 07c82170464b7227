package reaper

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The reaper is process-wide (a subreaper, wait4(-1)), so one test covers
// its behaviours in order.
func TestReaper(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	sh := "/bin/sh"
	cases := []struct {
		script string
		code   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	}
	for _, tc := range cases {
		_, ch, err := r.Start([]string{sh, "-c", tc.script}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
		if err != nil {
			t.Fatal(err)
		}
		if got := ExitCode(<-ch); got != tc.code {
			t.Errorf("%q: exit code %d, want %d", tc.script, got, tc.code)
		}
	}

	// Orphans: sh starts a background sleep, prints its pid and exits; the
	// sleep is re-parented to us. One is watched while it runs, the other
	// (most likely) after it was reaped: both must report.
	for _, late := range []bool{false, true} {
		rd, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		_, ch, err := r.Start([]string{sh, "-c", "sleep 0.1 & echo $!"},
			&syscall.ProcAttr{Files: []uintptr{0, wr.Fd(), 2}})
		wr.Close()
		if err != nil {
			t.Fatal(err)
		}
		<-ch
		buf := make([]byte, 64)
		n, _ := rd.Read(buf)
		rd.Close()
		pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
		if err != nil {
			t.Fatalf("orphan pid %q: %v", buf[:n], err)
		}
		if late {
			for unix.Kill(pid, 0) == nil {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
		}
		select {
		case ws := <-r.Watch(pid):
			if ExitCode(ws) != 0 {
				t.Errorf("orphan exit code %d", ExitCode(ws))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("orphan (late %v) never reported", late)
		}
	}
}
