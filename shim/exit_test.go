package shim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOOMKills(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
		want          int64
	}{
		{"v1", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", 2},
		{"v2", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n", 1},
		{"none", "oom_kill_disable 0\nunder_oom 0\n", 0},
	}
	for _, tc := range cases {
		p := filepath.Join(dir, tc.name)
		must(t, os.WriteFile(p, []byte(tc.content), 0o644))
		if got := oomKills(p); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := oomKills(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("missing file: %d", got)
	}
}

func TestOOMCounterOfSelf(t *testing.T) {
	// Whatever the host's cgroup layout, the answer is "" or a file that exists.
	if p := oomCounter(os.Getpid()); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("oomCounter returned %s: %v", p, err)
		}
	}
	if p := oomCounter(-1); p != "" {
		t.Errorf("oomCounter(-1) = %q", p)
	}
}

// The exit file and shim.json are written by hand; they must be valid
// JSON that shim/client reads.
func TestExitJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	e := exitStatus{Code: 137, Signal: 9, At: at, OOM: true}
	var got struct {
		ID        string    `json:"id"`
		Pid       int       `json:"pid"`
		ExitCode  int       `json:"exit_code"`
		Signal    int       `json:"signal"`
		ExitedAt  time.Time `json:"exited_at"`
		OOMKilled bool      `json:"oom_killed"`
	}
	if err := json.Unmarshal(e.json("c-1", 42), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "c-1" || got.Pid != 42 || got.ExitCode != 137 || got.Signal != 9 || !got.ExitedAt.Equal(at) || !got.OOMKilled {
		t.Errorf("decoded %+v", got)
	}
}

func TestWriteInfo(t *testing.T) {
	dir := t.TempDir()
	s := &Shim{cfg: Config{ID: "c", Bundle: "/b\"x", Runtime: "/usr/bin/runc", StateDir: dir, LogPath: "/l/c.log", Terminal: true}, pid: 7}
	must(t, s.writeInfo())
	data, err := os.ReadFile(filepath.Join(dir, InfoName))
	must(t, err)
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if got["bundle"] != "/b\"x" || got["pid"] != float64(7) || got["terminal"] != true || got["shim_pid"] != float64(os.Getpid()) {
		t.Errorf("shim.json: %s", data)
	}
	if _, err := os.Stat(filepath.Join(dir, InfoName+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}
