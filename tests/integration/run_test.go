package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// withoutNamespace drops a namespace from the config.
func withoutNamespace(typ rspec.LinuxNamespaceType) func(*testing.T, *bundle) {
	return func(_ *testing.T, b *bundle) {
		ns := b.spec.Linux.Namespaces[:0]
		for _, n := range b.spec.Linux.Namespaces {
			if n.Type != typ {
				ns = append(ns, n)
			}
		}
		b.spec.Linux.Namespaces = ns
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	// A signal the init of a pid namespace sends itself is ignored, so the
	// self-killing cases run in the host's pid namespace.
	hostPid := withoutNamespace(rspec.PIDNamespace)
	runInside(t, []insideCase{
		{name: "true", args: []string{"true"}},
		{name: "false", args: []string{"false"}, wantCode: 1},
		{name: "exit 3", args: []string{"sh", "-c", "exit 3"}, wantCode: 3},
		{name: "SIGKILL", args: []string{"sh", "-c", "kill -9 $$"}, edit: hostPid, wantCode: 137},
		{name: "SIGTERM", args: []string{"sh", "-c", "kill -TERM $$"}, edit: hostPid, wantCode: 143},
	})
}

func TestRunOutput(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sh", "-c", "echo hello; echo oops >&2")
	r := b.run()
	if r.code != 0 || r.stdout != "hello\n" || !strings.Contains(r.stderr, "oops") {
		t.Fatalf("want exit 0, stdout \"hello\\n\" and oops on stderr, got %s", r)
	}
	if exists(filepath.Join(b.root, b.id)) {
		t.Errorf("run without --keep left state dir %s", filepath.Join(b.root, b.id))
	}
}

func TestRunStdin(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "cat")
	in := "line one\nline two\n"
	r := b.runWith(runOpts{stdin: strings.NewReader(in)})
	if r.code != 0 || r.stdout != in {
		t.Fatalf("want cat to echo %q, got %s", in, r)
	}
}

func TestRunKeep(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "true")
	if r := b.run("--keep"); r.code != 0 {
		t.Fatalf("run --keep: %s", r)
	}
	if st := b.mustState(b.id); st.Status != "stopped" {
		t.Fatalf("after run --keep, want stopped, got %+v", st)
	}
	if r := b.xrt("delete", b.id); r.code != 0 {
		t.Fatalf("delete: %s", r)
	}
	if exists(filepath.Join(b.root, b.id)) {
		t.Errorf("state dir left after delete")
	}
}

func TestRunDetach(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	start := time.Now()
	r := b.run("-d")
	if r.code != 0 {
		t.Fatalf("run -d: %s", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run -d took %v: it must not wait for the container", d)
	}
	st := b.mustState(b.id)
	if st.Status != "running" || !alive(st.Pid) {
		t.Fatalf("after run -d, want a running container, got %+v", st)
	}
}

func TestRunKilledFromOutside(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	b.save()
	bin := requireXRT(t)
	done := make(chan result, 1)
	go func() {
		r, err := execXRT(bin, runOpts{}, "--root", b.root, "run", "--bundle", b.dir, b.id)
		if err != nil {
			r.code, r.stderr = -1, err.Error()
		}
		done <- r
	}()
	waitFor(t, "the container to run", func() bool {
		select {
		case r := <-done:
			t.Fatalf("run ended before it was killed: %s", r)
		default:
		}
		r, err := execXRT(bin, runOpts{}, "--root", b.root, "state", b.id)
		return err == nil && r.code == 0 && strings.Contains(r.stdout, `"running"`)
	})
	if r := b.xrt("kill", b.id, "KILL"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	select {
	case r := <-done:
		if r.code != 137 {
			t.Errorf("run of a container killed with SIGKILL: want exit 137, got %s", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its container was killed")
	}
}
