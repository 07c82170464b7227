package seccomp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A loaded filter cannot be removed, so every test that loads one runs in a
// re-executed test binary. The child runs the case named by childEnv instead
// of the tests. Loading needs no root: no_new_privs is enough.
const childEnv = "XRT_SECCOMP_TEST_CHILD"

// children are the child cases that are not a plain loadCase.
var children = map[string]func() error{}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		// The filter is per thread: load, probe and exit on this one.
		runtime.LockOSThread()
		f, ok := children[name]
		if c, isLoad := loadCases[name]; isLoad {
			f, ok = func() error { return c.run() }, true
		}
		if !ok {
			fmt.Fprintf(os.Stderr, "no child %q\n", name)
			os.Exit(2)
		}
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childCmd returns the command that runs the child case name.
func childCmd(name string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+name), env...)
	return cmd
}

// runChild runs the child case name and fails t with its stderr if it fails.
func runChild(t *testing.T, name string) {
	t.Helper()
	cmd := childCmd(name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
	}
}

// load sets no_new_privs and loads s on the calling (locked) thread.
func load(s *rspec.LinuxSeccomp) (int, error) {
	f, err := Build(s)
	if err != nil {
		return -1, err
	}
	defer f.Release()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("no_new_privs: %w", err)
	}
	return f.Load()
}
