package container

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPlanNamespaces(t *testing.T) {
	ns := func(types ...rspec.LinuxNamespaceType) []rspec.LinuxNamespace {
		var out []rspec.LinuxNamespace
		for _, t := range types {
			out = append(out, rspec.LinuxNamespace{Type: t})
		}
		return out
	}
	for _, c := range []struct {
		name   string
		linux  *rspec.Linux
		clone  uintptr
		join   bool
		words  []string
		cgroup bool
		user   bool
	}{
		{name: "no linux section"},
		{name: "new namespaces by clone flags",
			linux: &rspec.Linux{Namespaces: ns(rspec.PIDNamespace, rspec.MountNamespace, rspec.NetworkNamespace, rspec.IPCNamespace, rspec.UTSNamespace)},
			clone: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS},
		{name: "cgroup namespace is left to init",
			linux: &rspec.Linux{Namespaces: ns(rspec.MountNamespace, rspec.CgroupNamespace)},
			clone: unix.CLONE_NEWNS, cgroup: true},
		{name: "user namespace by clone",
			linux: &rspec.Linux{Namespaces: ns(rspec.UserNamespace, rspec.MountNamespace)},
			clone: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, user: true},
		{name: "a join goes through nsenter",
			linux: &rspec.Linux{Namespaces: []rspec.LinuxNamespace{{Type: rspec.NetworkNamespace, Path: "/var/run/netns/x"}, {Type: rspec.MountNamespace}}},
			join:  true, words: []string{"net=/var/run/netns/x", "new=0x20000"}},
		{name: "time namespace needs nsenter's fork",
			linux: &rspec.Linux{Namespaces: ns(rspec.TimeNamespace),
				TimeOffsets: map[string]rspec.LinuxTimeOffset{"boottime": {Secs: 5, Nanosecs: 7}}},
			join: true, words: []string{"offsets=boottime:5:7", "new=0x80"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := planNamespaces(c.linux)
			if err != nil {
				t.Fatal(err)
			}
			if p.cloneFlags != c.clone || p.joinMode != c.join || p.newCgroupNS != c.cgroup || p.newUser != c.user ||
				strings.Join(p.nsenter, " ") != strings.Join(c.words, " ") {
				t.Errorf("plan = %+v", p)
			}
		})
	}
	if _, err := planNamespaces(&rspec.Linux{Namespaces: ns("bogus")}); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second, longer"} {
		if err := writeFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("read %q, want %q", b, content)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temp files left: %v", entries)
	}
}

// TestStatus derives the status from a real process and the exec fifo, as
// every command after create does.
func TestStatus(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	root := t.TempDir()
	c := &Container{dir: filepath.Join(root, "c1"), State: State{ID: "c1"}}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := c.Status(); got != rspec.StateCreating {
		t.Errorf("no pid yet: %s, want creating", got)
	}
	c.Pid = cmd.Process.Pid
	start, _, err := procStat(c.Pid)
	if err != nil {
		t.Fatal(err)
	}
	c.PidStartTime = start + 1
	if got := c.Status(); got != rspec.StateStopped {
		t.Errorf("pid reused by another process: %s, want stopped", got)
	}
	c.PidStartTime = start
	if err := unix.Mkfifo(filepath.Join(c.dir, fifoFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := c.Status(); got != rspec.StateCreated {
		t.Errorf("fifo present: %s, want created", got)
	}
	os.Remove(filepath.Join(c.dir, fifoFile))
	if got := c.Status(); got != rspec.StateRunning {
		t.Errorf("fifo gone: %s, want running", got)
	}
	_ = cmd.Process.Kill()
	// Not reaped yet: a zombie counts as stopped too.
	deadline := time.Now().Add(5 * time.Second)
	for c.Status() != rspec.StateStopped && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := c.Status(); got != rspec.StateStopped {
		t.Errorf("killed: %s, want stopped", got)
	}
	if err := c.waitExit(time.Second); err != nil {
		t.Errorf("waitExit of an exited process: %v", err)
	}
}

func TestSaveLoad(t *testing.T) {
	root := t.TempDir()
	c := &Container{dir: filepath.Join(root, "c1"), State: State{ID: "c1", Pid: 7, Bundle: "/b",
		Hooks: &rspec.Hooks{Poststop: []rspec.Hook{{Path: "/bin/true"}}}, OwnPidNS: true, CgroupPath: "/xrt/c1"}}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Pid != 7 || got.Bundle != "/b" || !got.OwnPidNS || got.CgroupPath != "/xrt/c1" || got.Hooks.Poststop[0].Path != "/bin/true" {
		t.Errorf("loaded %+v", got.State)
	}
	if _, err := Load(root, "missing"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load of a missing container: %v", err)
	}
	if _, err := Load(root, "../etc"); err == nil {
		t.Error("Load accepted an id with a slash")
	}
	os.WriteFile(filepath.Join(c.dir, stateFile), []byte("{"), 0o600)
	if _, err := Load(root, "c1"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Load of a corrupt state: %v", err)
	}
}
