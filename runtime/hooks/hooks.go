// Package hooks runs the OCI lifecycle hooks of config.json (prestart,
// createRuntime, createContainer, startContainer, poststart, poststop).
//
// Each hook is executed with exactly its own argv and environment (nothing
// is inherited from xrt), the container state as JSON on its stdin, and its
// stdout and stderr captured (the last 4 KiB) for the error message. A hook
// with a timeout is killed, with its process group, when the timeout expires.
//
// What the caller must do with a failure (runtime-spec runtime.md, Lifecycle):
//
//   - prestart, createRuntime, createContainer, startContainer: use Run; on
//     error the runtime must stop: kill and destroy the container (cgroup,
//     state directory) and return the error. The user process must not run.
//   - poststart: use RunAll; a failure is logged as a warning and the
//     lifecycle continues (start still succeeds). The conformance test
//     poststart_fail checks exactly this, although runc kills the container.
//   - poststop: use RunAll after the container is deleted; a failure is a
//     warning and delete still succeeds.
//
// The state each kind receives on stdin (id, bundle as an absolute path and
// the config's annotations always; pid and status as below). runtime.md asks
// for "creating" during create; the conformance test hooks_stdin checks
// prestart for "created" and the init's host pid, poststart for "running"
// and the same pid, poststop for any non-empty status:
//
//	kind             runs in, when                            status    pid
//	prestart         runtime ns, create, before pivot_root    created   init, as xrt sees it
//	createRuntime    runtime ns, create, before pivot_root    creating  init, as xrt sees it
//	createContainer  init, create, before pivot_root          creating  init's own getpid()
//	startContainer   init, start, just before exec            created   init's own getpid()
//	poststart        runtime ns, after exec, before start     running   init, as xrt sees it
//	poststop         runtime ns, after delete                 stopped   0 (not checked)
//
// The conformance test prestart also wants prestart hooks to run at start,
// not create (the old runtime-spec wording); runc and this table keep them
// in create, before pivot_root, where real prestart hooks need them.
//
// Hooks run by the container's init (createContainer, startContainer)
// inherit every fd of init that is not close-on-exec, as any exec does.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Hook kinds, as named in config.json; used in error messages.
const (
	Prestart        = "prestart"
	CreateRuntime   = "createRuntime"
	CreateContainer = "createContainer"
	StartContainer  = "startContainer"
	Poststart       = "poststart"
	Poststop        = "poststop"
)

// outputMax bounds how much of a hook's output is kept for the error.
const outputMax = 4096

// pipeGrace is how long we wait, after a hook exited, for descendants that
// still hold its stdout open (a daemon it started) before giving up on them.
const pipeGrace = 100 * time.Millisecond

// Run runs hooks in order and stops at the first one that fails.
func Run(kind string, hooks []rspec.Hook, state *rspec.State) error {
	if len(hooks) == 0 {
		return nil
	}
	stdin, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: encode state: %w", kind, err)
	}
	for i := range hooks {
		if err := run(kind, i, &hooks[i], stdin); err != nil {
			return err
		}
	}
	return nil
}

// RunAll runs every hook, even after failures, and returns all failures
// joined; the caller logs them as warnings.
func RunAll(kind string, hooks []rspec.Hook, state *rspec.State) error {
	if len(hooks) == 0 {
		return nil
	}
	stdin, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: encode state: %w", kind, err)
	}
	var errs []error
	for i := range hooks {
		if err := run(kind, i, &hooks[i], stdin); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func run(kind string, i int, h *rspec.Hook, stdin []byte) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s hook %s (index %d): "+format, append([]any{kind, h.Path, i}, a...)...)
	}
	if !filepath.IsAbs(h.Path) {
		return fail("path must be absolute")
	}
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fail("timeout must be greater than zero, got %d", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}

	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	// A nil Env would make exec inherit ours; the hook gets exactly h.Env.
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(stdin)
	out := &tail{}
	cmd.Stdout = out // the same writer: exec gives both one pipe
	cmd.Stderr = out
	// Own process group, so a timeout kills the hook's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != syscall.ESRCH {
			return err
		}
		return os.ErrProcessDone
	}
	cmd.WaitDelay = pipeGrace

	err := cmd.Run()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return fail("timed out after %ds%s", *h.Timeout, out.suffix())
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return fail("%w%s", err, out.suffix())
	}
	return nil
}

// tail keeps the last outputMax bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if n >= outputMax {
		t.b = append(t.b[:0], p[n-outputMax:]...)
		return n, nil
	}
	if over := len(t.b) + n - outputMax; over > 0 {
		t.b = t.b[:copy(t.b, t.b[over:])]
	}
	t.b = append(t.b, p...)
	return n, nil
}

// suffix is ": <output>" or "" when the hook printed nothing.
func (t *tail) suffix() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + s
}
