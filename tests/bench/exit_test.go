package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestPidfdFromFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
	}{
		{"empty", ""},
		{"not a number", "abc"},
		{"zero", "0"},
		{"negative", "-5"},
		{"no such process", "2147483647"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if fd, err := pidfdFromFile(p); err == nil {
				syscall.Close(fd)
				t.Errorf("pidfdFromFile(%q) succeeded", c.content)
			}
		})
	}
	if _, err := pidfdFromFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("pidfdFromFile on a missing file succeeded")
	}
}

// TestWaitExit waits on a process that is running, then on the same one after it exits.
func TestWaitExit(t *testing.T) {
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start cat: %v", err)
	}
	defer cmd.Wait()
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := pidfdFromFile(pidFile)
	if err != nil {
		if errors.Is(err, syscall.ENOSYS) {
			t.Skip("kernel without pidfd_open")
		}
		t.Fatal(err)
	}
	defer syscall.Close(fd)

	if err := waitExit(fd, 20*time.Millisecond); err == nil {
		t.Fatal("waitExit returned while the process was running")
	}
	stdin.Close()
	if err := waitExit(fd, 10*time.Second); err != nil {
		t.Fatalf("waitExit after exit: %v", err)
	}
}
