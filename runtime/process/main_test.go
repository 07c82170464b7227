package process

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// Some settings cannot be undone (a lowered hard limit, a uid change, a
// chroot), so those tests run them in a re-executed test binary. The child
// runs the function named by childEnv instead of the tests.
const childEnv = "XRT_PROCESS_TEST_CHILD"

var children = map[string]func() error{}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		runtime.LockOSThread()
		f, ok := children[name]
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

// runChild runs children[name] in a new process and returns its stdout.
func runChild(t *testing.T, name string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("child %s: %w: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// onThread runs f on a fresh locked OS thread that dies afterwards, so that
// per-thread settings (nice, ioprio, no_new_privs) do not leak into the
// test process.
func onThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- f()
	}()
	return <-errc
}
