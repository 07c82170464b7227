package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// initBinary builds xmgr-init once for the tests.
func initBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "xmgr-init")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run: %v", err)
	return -1
}

func TestInit(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	bin := initBinary(t)

	t.Run("exit codes", func(t *testing.T) {
		cases := []struct {
			args []string
			want int
		}{
			{[]string{"--", "sh", "-c", "exit 3"}, 3},
			{[]string{"sh", "-c", "exit 0"}, 0},
			{[]string{"--", "sh", "-c", "kill -TERM $$"}, 128 + 15},
			{[]string{"--", "/no/such/command"}, 127},
			{[]string{"--"}, 2},
		}
		for _, c := range cases {
			err := exec.Command(bin, c.args...).Run()
			if got := exitCode(t, err); got != c.want {
				t.Errorf("xmgr-init %q: exit %d, want %d", c.args, got, c.want)
			}
		}
	})

	t.Run("forwards signals", func(t *testing.T) {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGHUP} {
			// The child exits with the signal's number when it gets it.
			script := "trap 'exit " + strconv.Itoa(int(sig)) + "' " + strings.TrimPrefix(sigName(sig), "SIG") +
				"; echo ready; while :; do sleep 0.05; done"
			cmd := exec.Command(bin, "--", "sh", "-c", script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 6)
			if _, err := out.Read(buf); err != nil {
				t.Fatalf("waiting for the child: %v", err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if got := exitCode(t, err); got != int(sig) {
					t.Errorf("%v: exit %d, want %d (the child's trap)", sig, got, sig)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%v was not forwarded: xmgr-init still runs", sig)
			}
		}
	})

	t.Run("reaps orphans", func(t *testing.T) {
		// The inner sh leaves a sleep behind; out of a pid namespace
		// xmgr-init is its subreaper, so it inherits and must reap it.
		cmd := exec.Command(bin, "--", "sh", "-c", `sh -c "sleep 0.2 &"; sleep 2`)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		time.Sleep(1200 * time.Millisecond)
		children := childrenOf(t, cmd.Process.Pid)
		if len(children) != 1 {
			t.Errorf("xmgr-init has children %v, want only the command (an orphan was not reaped)", children)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("xmgr-init: %v", err)
		}
	})
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return ""
}

// childrenOf lists pid's children with their states ("123 Z").
func childrenOf(t *testing.T, pid int) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range tasks {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(data)) {
			stat, _ := os.ReadFile("/proc/" + c + "/stat")
			state := "?"
			if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
				state = string(stat[i+2])
			}
			out = append(out, c+" "+state)
		}
	}
	return out
}
