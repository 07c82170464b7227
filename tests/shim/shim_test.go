package shim

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/shim/client"
	"github.com/xrt-dev/xrt/shim/proto"
)

// withoutPidNS drops the pid namespace: a container's init ignores
// SIGTERM from outside its namespace unless it handles it, so only a
// process that is not an init can die of an unhandled SIGTERM (143).
func withoutPidNS(s *rspec.Spec) {
	var kept []rspec.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != rspec.PIDNamespace {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		edit   func(*rspec.Spec)
		kill   syscall.Signal
		code   int
		signal int
	}{
		{name: "0", args: []string{"true"}, code: 0},
		{name: "1", args: []string{"false"}, code: 1},
		{name: "137", args: []string{"sleep", "100"}, kill: syscall.SIGKILL, code: 137, signal: 9},
		{name: "143", args: []string{"sleep", "100"}, edit: withoutPidNS, kill: syscall.SIGTERM, code: 143, signal: 15},
	}
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newBox(t, rt, tc.args...)
				if tc.edit != nil {
					tc.edit(b.spec)
				}
				s := b.start(nil)
				ctx := ctxT(t)
				if tc.kill != 0 {
					if err := s.Kill(ctx, tc.kill, false); err != nil {
						t.Fatalf("kill: %v", err)
					}
				}
				e, err := s.Wait(ctx)
				if err != nil {
					t.Fatalf("wait: %v", err)
				}
				if e.ExitCode != tc.code || e.Signal != tc.signal || e.ExitedAt.IsZero() || e.OOMKilled {
					t.Errorf("exit %+v, want code %d signal %d", e, tc.code, tc.signal)
				}
				// The same status, durably in exit.json.
				f, err := client.ReadExit(b.stateDir())
				if err != nil || f.ExitCode != tc.code || f.ID != b.id || f.Pid != s.Pid {
					t.Errorf("exit.json: %+v, %v", f, err)
				}
				// The shim removes the container and exits once the status was collected.
				waitFor(t, "the shim to exit", func() bool {
					_, err := os.Stat(filepath.Join(b.stateDir(), "shim.sock"))
					return os.IsNotExist(err)
				})
				if out, err := exec.Command(rt.path, "--root", b.rtRoot, "state", b.id).CombinedOutput(); err == nil {
					t.Errorf("the container is still known to %s after the shim exited: %s", rt.name, out)
				}
			})
		}
	})
}

func TestAttachTerminal(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		b := newBox(t, rt, "sh")
		b.spec.Process.Terminal = true
		s := b.start(func(o *client.Options) { o.Stdin = true })
		ctx := ctxT(t)
		in, typist := io.Pipe()
		var out syncBuffer
		done := make(chan error, 1)
		sizes := make(chan client.WindowSize, 1)
		go func() {
			_, err := s.Attach(ctx, client.Streams{Stdin: in, Stdout: &out, Resize: sizes})
			done <- err
		}()
		// Typing reaches the shell, its answer comes back (and goes to the log).
		io.WriteString(typist, "echo hel''lo-$((6*7))\n")
		waitFor(t, "the shell's answer", func() bool { return strings.Contains(out.String(), "hello-42") })
		if err := s.Resize(ctx, 123, 45); err != nil {
			t.Fatalf("resize: %v", err)
		}
		io.WriteString(typist, "stty size\n")
		waitFor(t, "stty to print the new size", func() bool { return strings.Contains(out.String(), "45 123") })
		// The same through the attach stream itself.
		sizes <- client.WindowSize{Width: 99, Height: 33}
		waitFor(t, "the resize frame", func() bool {
			io.WriteString(typist, "stty size\n")
			time.Sleep(50 * time.Millisecond)
			return strings.Contains(out.String(), "33 99")
		})
		io.WriteString(typist, "\x10\x11") // ctrl-p ctrl-q
		select {
		case err := <-done:
			if !errors.Is(err, client.ErrDetached) {
				t.Fatalf("attach ended with %v, want ErrDetached", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the detach keys did not detach")
		}
		st, err := s.State(ctx)
		if err != nil || st.Status != "running" {
			t.Fatalf("after detach: %+v, %v", st, err)
		}
		// Attach again: the shell is still there; exit it.
		in2, typist2 := io.Pipe()
		var out2 syncBuffer
		go func() {
			io.WriteString(typist2, "exit 7\n")
		}()
		e, err := s.Attach(ctx, client.Streams{Stdin: in2, Stdout: &out2})
		if err != nil || e == nil || e.ExitCode != 7 {
			t.Fatalf("second attach: %+v, %v", e, err)
		}
		if log := logText(readLog(t, b.logPath), "stdout"); !strings.Contains(log, "hello-42") {
			t.Errorf("log lacks the shell's output: %q", log)
		}
	})
}

// TestLogsAfterCallerKilled kills -9 the process that started the shim
// while the container writes, then recovers the shim from the state root
// and checks that the log has every line.
func TestLogsAfterCallerKilled(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		const n = 400
		b := newBox(t, rt, "sh", "-c", fmt.Sprintf(
			"i=0; while [ $i -lt %d ]; do echo line $i; i=$((i+1)); [ $((i%%40)) = 0 ] && sleep 0.05; done; echo done >&2", n))
		b.save()
		o := b.options()
		// The caller: a shell that runs xrt-shim, says so, and waits to be killed.
		caller := exec.Command("sh", "-c", `"$@" && echo started && exec sleep 1000`, "sh",
			o.Binary, "--id", o.ID, "--bundle", o.Bundle, "--runtime", o.Runtime, "--runtime-root", o.RuntimeRoot,
			"--state-dir", o.StateDir, "--log-path", o.LogPath)
		stdout, err := caller.StdoutPipe()
		must(t, err)
		must(t, caller.Start())
		b.cleanup()
		line := make([]byte, 64)
		k, _ := stdout.Read(line)
		if !strings.Contains(string(line[:k]), "running, pid") {
			caller.Process.Kill()
			caller.Wait()
			t.Fatalf("the caller printed %q", line[:k])
		}
		must(t, caller.Process.Signal(syscall.SIGKILL))
		caller.Wait()

		ctx := ctxT(t)
		rec, err := client.Recover(ctx, b.root)
		if err != nil || len(rec) != 1 || rec[0].Shim == nil || rec[0].ID != b.id {
			t.Fatalf("recover: %+v, %v", rec, err)
		}
		e, err := rec[0].Shim.Wait(ctx)
		if err != nil || e.ExitCode != 0 {
			t.Fatalf("wait: %+v, %v", e, err)
		}
		entries := readLog(t, b.logPath)
		var want strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&want, "line %d\n", i)
		}
		if got := logText(entries, "stdout"); got != want.String() {
			t.Errorf("stdout in the log: %d bytes, want %d", len(got), want.Len())
		}
		if got := logText(entries, "stderr"); got != "done\n" {
			t.Errorf("stderr in the log: %q", got)
		}
	})
}

// TestRecoverExited: the shim of a container that exited and whose status
// nobody collected leaves after its exit timeout; Recover then returns the
// status from exit.json.
func TestRecoverExited(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		b := newBox(t, rt, "sh", "-c", "exit 5")
		b.start(func(o *client.Options) { o.ExitTimeout = 100 * time.Millisecond })
		waitFor(t, "the shim to leave", func() bool {
			_, err := os.Stat(filepath.Join(b.stateDir(), "shim.sock"))
			return os.IsNotExist(err)
		})
		rec, err := client.Recover(ctxT(t), b.root)
		if err != nil || len(rec) != 1 || rec[0].Exit == nil || rec[0].Exit.ExitCode != 5 || rec[0].Shim != nil {
			t.Fatalf("recover: %+v, %v", rec, err)
		}
	})
}

func TestTwoReaders(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		// The container waits for stdin to close before it writes.
		b := newBox(t, rt, "sh", "-c", "cat >/dev/null; seq 1 300; echo bye >&2")
		s := b.start(func(o *client.Options) { o.Stdin = true })
		ctx := ctxT(t)
		type result struct {
			out, err syncBuffer
			exit     *client.ExitStatus
			e        error
		}
		readers := []*result{{}, {}}
		done := make(chan struct{}, len(readers))
		attached := make(chan struct{}, len(readers))
		for _, r := range readers {
			go func() {
				r.exit, r.e = s.Attach(ctx, client.Streams{Stdout: &r.out, Stderr: &r.err,
					Attached: func() { attached <- struct{}{} }})
				done <- struct{}{}
			}()
		}
		for range readers {
			<-attached
		}
		if err := s.CloseStdin(ctx); err != nil {
			t.Fatalf("close stdin: %v", err)
		}
		for range readers {
			<-done
		}
		var want strings.Builder
		for i := 1; i <= 300; i++ {
			fmt.Fprintf(&want, "%d\n", i)
		}
		for i, r := range readers {
			if r.e != nil || r.exit == nil || r.exit.ExitCode != 0 {
				t.Errorf("reader %d: %+v, %v", i, r.exit, r.e)
			}
			if r.out.String() != want.String() || r.err.String() != "bye\n" {
				t.Errorf("reader %d: stdout %d bytes (want %d), stderr %q", i, len(r.out.String()), want.Len(), r.err.String())
			}
		}
	})
}

func TestClosedStdoutKeepsRunning(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		b := newBox(t, rt, "sh", "-c", "echo first; exec >&-; echo stdout-closed >&2; sleep 100")
		s := b.start(nil)
		ctx := ctxT(t)
		waitFor(t, "stderr after closing stdout", func() bool {
			data, _ := os.ReadFile(b.logPath)
			return strings.Contains(string(data), "stdout-closed")
		})
		st, err := s.State(ctx)
		if err != nil || st.Status != "running" {
			t.Fatalf("state: %+v, %v", st, err)
		}
		must(t, s.Kill(ctx, syscall.SIGKILL, false))
		e, err := s.Wait(ctx)
		if err != nil || e.ExitCode != 137 {
			t.Fatalf("wait: %+v, %v", e, err)
		}
		entries := readLog(t, b.logPath)
		if logText(entries, "stdout") != "first\n" || logText(entries, "stderr") != "stdout-closed\n" {
			t.Errorf("log: %+v", entries)
		}
	})
}

func TestBadRuntime(t *testing.T) {
	_, rts := binaries(t)
	notExec := filepath.Join(t.TempDir(), "runtime")
	must(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	cases := []struct{ runtime, want string }{
		{"/nonexistent/xrt", "runtime /nonexistent/xrt: no such file or directory"},
		{notExec, "runtime " + notExec + ": not executable"},
		{"no-such-runtime-in-path", `runtime "no-such-runtime-in-path" not found`},
	}
	for _, tc := range cases {
		b := newBox(t, rts[0], "true")
		b.save()
		o := b.options()
		o.Runtime = tc.runtime
		_, err := client.Start(ctxT(t), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("runtime %s: error %v, want %q", tc.runtime, err, tc.want)
		}
		checkNothingLeft(t, b)
	}
}

func TestBadBundle(t *testing.T) {
	_, rts := binaries(t)
	b := newBox(t, rts[0], "true")
	o := b.options() // config.json never saved... remove the one `xrt spec` wrote
	must(t, os.Remove(filepath.Join(b.bundle, "config.json")))
	_, err := client.Start(ctxT(t), o)
	if err == nil || !strings.Contains(err.Error(), "bundle "+b.bundle+" is not valid") {
		t.Errorf("error %v", err)
	}
	checkNothingLeft(t, b)
}

func TestUnwritableLogDir(t *testing.T) {
	_, rts := binaries(t)
	ro := filepath.Join(t.TempDir(), "ro")
	must(t, os.Mkdir(ro, 0o755))
	must(t, unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, "size=64k"))
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	cases := []struct{ path, want string }{
		{filepath.Join(ro, "c.log"), "log directory " + ro + " is not writable: read-only file system"},
		{"/nonexistent/dir/c.log", "log directory /nonexistent/dir: no such file or directory"},
	}
	for _, tc := range cases {
		b := newBox(t, rts[0], "true")
		b.save()
		o := b.options()
		o.LogPath = tc.path
		_, err := client.Start(ctxT(t), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("log %s: error %v, want %q", tc.path, err, tc.want)
		}
		checkNothingLeft(t, b)
	}
}

// TestStateDirInUse: a second shim for a state dir whose shim runs is
// refused, and the first keeps its socket.
func TestStateDirInUse(t *testing.T) {
	_, rts := binaries(t)
	b := newBox(t, rts[0], "sleep", "100")
	s := b.start(nil)
	o := b.options()
	o.ID = b.id + "-second"
	_, err := client.Start(ctxT(t), o)
	if err == nil || !strings.Contains(err.Error(), "a shim already runs in "+b.stateDir()) {
		t.Errorf("second start: %v", err)
	}
	ctx := ctxT(t)
	if st, err := s.State(ctx); err != nil || st.Status != "running" || st.ID != b.id {
		t.Fatalf("the first shim after that: %+v, %v", st, err)
	}
	must(t, s.Kill(ctx, syscall.SIGKILL, false))
	s.Wait(ctx)
}

// TestRuntimeError: the runtime's own error reaches the caller.
func TestRuntimeError(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		b := newBox(t, rt, "/no/such/program")
		b.save()
		_, err := client.Start(ctxT(t), b.options())
		if err == nil || !strings.Contains(err.Error(), rt.name) {
			t.Fatalf("error %v, want the runtime's error", err)
		}
		t.Logf("error as the caller sees it: %v", err)
		checkNothingLeft(t, b)
	})
}

// checkNothingLeft fails when a failed start left a state dir, a container
// or a log file.
func checkNothingLeft(t *testing.T, b *box) {
	t.Helper()
	if _, err := os.Stat(b.stateDir()); !os.IsNotExist(err) {
		t.Errorf("state dir %s left behind (%v)", b.stateDir(), err)
	}
	if _, err := os.Stat(b.logPath); !os.IsNotExist(err) {
		t.Errorf("log %s left behind (%v)", b.logPath, err)
	}
	if out, err := exec.Command(b.rt.path, "--root", b.rtRoot, "state", b.id).CombinedOutput(); err == nil {
		t.Errorf("container left behind: %s", out)
		exec.Command(b.rt.path, "--root", b.rtRoot, "delete", "--force", b.id).Run()
	}
}

func TestExec(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		if rt.name == "xrt" {
			if out, _ := exec.Command(rt.path, "exec", "--help").CombinedOutput(); strings.Contains(string(out), "No help topic") {
				t.Skip("xrt has no exec command yet")
			}
		}
		b := newBox(t, rt, "sleep", "100")
		s := b.start(nil)
		ctx := ctxT(t)
		proc := *b.spec.Process
		cases := []struct {
			args     []string
			stdin    string
			terminal bool
			code     int
			out, err string
		}{
			{args: []string{"echo", "hi"}, out: "hi\n"},
			{args: []string{"sh", "-c", "echo e >&2; exit 3"}, err: "e\n", code: 3},
			{args: []string{"cat"}, stdin: "from stdin\n", out: "from stdin\n"},
			{args: []string{"tty"}, terminal: true, out: "/dev/pts/"},
		}
		for _, tc := range cases {
			p := proc
			p.Args, p.Terminal = tc.args, tc.terminal
			var st client.Streams
			var out, errb syncBuffer
			st.Stdout, st.Stderr = &out, &errb
			if tc.stdin != "" {
				st.Stdin, st.CloseStdinOnEOF = strings.NewReader(tc.stdin), true
			}
			e, err := s.Exec(ctx, &p, st)
			if err != nil || e == nil || e.ExitCode != tc.code {
				t.Errorf("%q: %+v, %v", tc.args, e, err)
				continue
			}
			if !strings.HasPrefix(out.String(), tc.out) || errb.String() != tc.err {
				t.Errorf("%q: stdout %q stderr %q, want %q %q", tc.args, out.String(), errb.String(), tc.out, tc.err)
			}
		}
		// exec output is the client's, not the container log's.
		if data, _ := os.ReadFile(b.logPath); strings.Contains(string(data), "hi") {
			t.Errorf("exec output in the container log: %s", data)
		}
		must(t, s.Kill(ctx, syscall.SIGKILL, false))
		s.Wait(ctx)
	})
}

// TestFullDisk fills the log's file system while the container writes:
// the container must go on, and once space returns the log notes the loss.
func TestFullDisk(t *testing.T) {
	_, rts := binaries(t)
	// seq writes about 150 KB of json entries: more than the 64 KB left,
	// less than what removing the filler frees, whenever that happens.
	b := newBox(t, rts[0], "sh", "-c", "seq 1 2000; cat >/dev/null; echo after")
	dir := filepath.Join(t.TempDir(), "small")
	must(t, os.Mkdir(dir, 0o755))
	must(t, unix.Mount("tmpfs", dir, "tmpfs", 0, "size=512k"))
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	filler := filepath.Join(dir, "filler")
	must(t, os.WriteFile(filler, make([]byte, 448<<10), 0o644))
	b.logPath = filepath.Join(dir, "c.log")
	s := b.start(func(o *client.Options) { o.Stdin = true })
	ctx := ctxT(t)
	// Evidence of the loss: a count not yet noted, or the note (written as
	// soon as a smaller entry fits again).
	waitFor(t, "the shim to drop log entries", func() bool {
		st, err := s.State(ctx)
		data, _ := os.ReadFile(b.logPath)
		return err == nil && (st.LogDropped > 0 || strings.Contains(string(data), "bytes of log entries were dropped"))
	})
	st, err := s.State(ctx)
	if err != nil || st.Status != "running" {
		t.Fatalf("with a full disk: %+v, %v", st, err)
	}
	must(t, os.Remove(filler))
	must(t, s.CloseStdin(ctx))
	e, err := s.Wait(ctx)
	if err != nil || e.ExitCode != 0 {
		t.Fatalf("wait: %+v, %v", e, err)
	}
	entries := readLog(t, b.logPath) // also checks that every line is whole JSON
	note := -1
	for i, e := range entries {
		if strings.Contains(e.Log, "bytes of log entries were dropped: no space left on device") {
			note = i
		}
	}
	if last := entries[len(entries)-1]; note < 0 || last.Log != "after\n" {
		t.Errorf("want a note of the loss, then the output through \"after\": note at %d of %d, last %+v", note, len(entries), last)
	}
}

// TestLogRotation: --log-max-size and --log-max-file keep that many
// files of about that size, the newest entries in c.log.
func TestLogRotation(t *testing.T) {
	_, rts := binaries(t)
	b := newBox(t, rts[0], "seq", "1", "3000")
	s := b.start(func(o *client.Options) { o.LogMaxSize = 16 << 10; o.LogMaxFile = 3 })
	if e, err := s.Wait(ctxT(t)); err != nil || e.ExitCode != 0 {
		t.Fatalf("wait: %+v, %v", e, err)
	}
	ents, err := os.ReadDir(filepath.Dir(b.logPath))
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "c.log c.log.1 c.log.2" {
		t.Fatalf("log files %q", names)
	}
	// The files, oldest first, hold a run of consecutive lines ending with 3000.
	var all []logEntry
	for _, n := range []string{"c.log.2", "c.log.1", "c.log"} {
		all = append(all, readLog(t, filepath.Join(filepath.Dir(b.logPath), n))...)
	}
	text := logText(all, "stdout")
	first := strings.SplitN(text, "\n", 2)[0]
	var want strings.Builder
	start := 0
	fmt.Sscan(first, &start)
	for i := start; i <= 3000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if start <= 1 || text != want.String() {
		t.Errorf("rotated logs hold lines %s.. (%d bytes), want a consecutive run to 3000", first, len(text))
	}
}

// TestOOMKilled: a container over its memory limit is reported OOM killed.
func TestOOMKilled(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		b := newBox(t, rt, "sh", "-c", `x=$(yes | head -c 200000000); echo survived`)
		limit := int64(16 << 20)
		swap := limit
		b.spec.Linux.Resources = &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: &limit, Swap: &swap}}
		s := b.start(nil)
		e, err := s.Wait(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if !e.OOMKilled {
			t.Errorf("exit %+v: not reported OOM killed", e)
		}
	})
}

// TestIdleMemory guards the shim's size: issue 4 allows at most 4 MiB of
// RSS for a shim supervising an idle container.
func TestIdleMemory(t *testing.T) {
	shimBin, rts := binaries(t)
	if info, err := buildinfo.ReadFile(shimBin); err == nil {
		for _, s := range info.Settings {
			if s.Key == "-race" && s.Value == "true" {
				t.Skip("a -race build of the shim is several times larger")
			}
		}
	}
	b := newBox(t, rts[0], "sleep", "100")
	s := b.start(nil)
	ctx := ctxT(t)
	st, err := s.State(ctx)
	must(t, err)
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.ShimPid))
	must(t, err)
	var rssKB int
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			fmt.Sscan(v, &rssKB)
		}
	}
	t.Logf("shim VmRSS %d kB", rssKB)
	if rssKB == 0 || rssKB > 4096 {
		t.Errorf("shim VmRSS %d kB, want at most 4096", rssKB)
	}
	must(t, s.Kill(ctx, syscall.SIGKILL, false))
	s.Wait(ctx)
}

// TestCommandLine: xrt-shim's own errors and help, as a script sees them.
func TestCommandLine(t *testing.T) {
	shimBin, _ := binaries(t)
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "usage: xrt-shim", ""},
		{[]string{"--version"}, 0, "xrt-shim ", ""},
		{[]string{"--bogus"}, 1, "", "xrt-shim: unknown flag --bogus (see --help)\n"},
		{[]string{"--id", "x"}, 1, "", "xrt-shim: --bundle is required\n"},
		{[]string{"--id", "a/b", "--bundle", "/b", "--state-dir", "/s", "--log-path", "/l"}, 1, "", "xrt-shim: invalid container id \"a/b\""},
	}
	for _, tc := range cases {
		cmd := exec.Command(shimBin, tc.args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.HasPrefix(out.String(), tc.stdout) || !strings.HasPrefix(errb.String(), tc.stderr) ||
			(tc.stderr == "" && errb.Len() > 0) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, out.String(), errb.String())
		}
	}
}

// TestProtocolErrors: bad requests get a clear error and leave the shim
// serving.
func TestProtocolErrors(t *testing.T) {
	_, rts := binaries(t)
	b := newBox(t, rts[0], "sleep", "100")
	s := b.start(nil)
	sock := filepath.Join(b.stateDir(), "shim.sock")
	cases := []struct {
		name string
		send func(c net.Conn)
		want string // in the error field; "" when the shim just closes
	}{
		{"wrong version", func(c net.Conn) {
			proto.WriteFrame(c, proto.KindRequest, proto.Make("v", "2", "op", "state").Marshal())
		}, `protocol version "2" is not supported (this shim speaks 1)`},
		{"no version", func(c net.Conn) {
			proto.WriteFrame(c, proto.KindRequest, proto.Make("op", "state").Marshal())
		}, `protocol version "" is not supported`},
		{"unknown op", func(c net.Conn) {
			proto.WriteFrame(c, proto.KindRequest, proto.Request("frobnicate").Marshal())
		}, `unknown operation "frobnicate"`},
		{"not a request", func(c net.Conn) { proto.WriteFrame(c, proto.KindStdin, []byte("x")) }, "expected a request frame"},
		{"bad fields", func(c net.Conn) { proto.WriteFrame(c, proto.KindRequest, []byte{0x7f}) }, "malformed fields"},
		{"huge frame", func(c net.Conn) { c.Write([]byte{0xff, 0xff, 0xff, 0xff}) }, ""},
		{"bad signal", func(c net.Conn) {
			req := proto.Request(proto.OpKill)
			req.Set("signal", "99")
			proto.WriteFrame(c, proto.KindRequest, req.Marshal())
		}, "invalid signal 99"},
		{"resize without a terminal", func(c net.Conn) {
			req := proto.Request(proto.OpResize)
			req.SetInt("width", 80)
			req.SetInt("height", 24)
			proto.WriteFrame(c, proto.KindRequest, req.Marshal())
		}, "the process has no terminal"},
		{"attach stdin not open", func(c net.Conn) {
			req := proto.Request(proto.OpAttach)
			req.SetBool("stdin", true)
			proto.WriteFrame(c, proto.KindRequest, req.Marshal())
		}, "stdin is not open"},
		{"shutdown while running", func(c net.Conn) {
			proto.WriteFrame(c, proto.KindRequest, proto.Request(proto.OpShutdown).Marshal())
		}, "the container is running: kill it first"},
	}
	for _, tc := range cases {
		c, err := net.Dial("unix", sock)
		must(t, err)
		tc.send(c)
		kind, payload, _, err := proto.ReadFrame(c, nil)
		c.Close()
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: answered %c %q, want the connection closed", tc.name, kind, payload)
			}
			continue
		}
		f, ferr := proto.UnmarshalFields(payload)
		if err != nil || ferr != nil || kind != proto.KindResponse || !strings.Contains(f.Get(proto.FieldError), tc.want) {
			t.Errorf("%s: %c %q (%v), want error %q", tc.name, kind, payload, err, tc.want)
		}
	}
	ctx := ctxT(t)
	if st, err := s.State(ctx); err != nil || st.Status != "running" {
		t.Fatalf("after the bad requests: %+v, %v", st, err)
	}
	must(t, s.Kill(ctx, syscall.SIGKILL, false))
	s.Wait(ctx)
}

// TestRecoverLostShim: a shim killed with SIGKILL leaves no exit status;
// Recover says so, and the container is still there to be dealt with.
func TestRecoverLostShim(t *testing.T) {
	_, rts := binaries(t)
	b := newBox(t, rts[0], "sleep", "100")
	s := b.start(nil)
	ctx := ctxT(t)
	st, err := s.State(ctx)
	must(t, err)
	must(t, syscall.Kill(st.ShimPid, syscall.SIGKILL))
	waitFor(t, "the shim to die", func() bool { return !isShim(st.ShimPid) })
	rec, err := client.Recover(ctx, b.root)
	if err != nil || len(rec) != 1 || rec[0].Err == nil || rec[0].Shim != nil || rec[0].Exit != nil ||
		!strings.Contains(rec[0].Err.Error(), "does not answer") {
		t.Fatalf("recover: %+v, %v", rec, err)
	}
	if syscall.Kill(st.Pid, 0) != nil {
		t.Errorf("the container's init %d died with its shim", st.Pid)
	}
}

// TestHoldOutput: with HoldOutput, a client that attaches after the
// process already wrote and exited still gets every byte, as `docker run`
// needs (it attaches before the start, but the start may win the race).
func TestHoldOutput(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt runtimeUnderTest) {
		b := newBox(t, rt, "sh", "-c", "echo early; echo err >&2; exit 5")
		s := b.start(func(o *client.Options) { o.HoldOutput = 10 * time.Second })
		time.Sleep(300 * time.Millisecond) // the process is long done
		var out, errb syncBuffer
		exit, err := s.Attach(ctxT(t), client.Streams{Stdout: &out, Stderr: &errb})
		if err != nil || exit == nil || exit.ExitCode != 5 {
			t.Fatalf("attach: %+v, %v", exit, err)
		}
		if out.String() != "early\n" || errb.String() != "err\n" {
			t.Errorf("held output: stdout %q stderr %q", out.String(), errb.String())
		}
		if got := logText(readLog(t, b.logPath), "stdout"); got != "early\n" {
			t.Errorf("log: %q", got)
		}
	})
}

// TestShutdownReportsFailedDelete: when the runtime cannot delete the
// exited container, shutdown answers with the runtime's words (the shim
// still exits), so that its caller can log it and delete again.
func TestShutdownReportsFailedDelete(t *testing.T) {
	_, rts := binaries(t)
	real := rts[0].path
	wrapper := filepath.Join(t.TempDir(), "xrt-refuses-delete")
	script := "#!/bin/sh\nfor a; do [ \"$a\" = delete ] && { echo 'delete refused by the test' >&2; exit 1; }; done\nexec " + real + " \"$@\"\n"
	must(t, os.WriteFile(wrapper, []byte(script), 0o755))
	b := newBox(t, runtimeUnderTest{"xrt-refuses-delete", wrapper}, "true")
	s := b.start(nil)
	// Runs before start's cleanup, whose runtime refuses to delete.
	t.Cleanup(func() { exec.Command(real, "--root", b.rtRoot, "delete", "--force", b.id).Run() })
	ctx := ctxT(t)
	if _, err := s.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	err := s.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "could not delete the container") || !strings.Contains(err.Error(), "delete refused by the test") {
		t.Fatalf("shutdown after a failed delete: %v", err)
	}
	if out, err := exec.Command(real, "--root", b.rtRoot, "state", b.id).CombinedOutput(); err != nil {
		t.Errorf("the container should still be known to the runtime: %v: %s", err, out)
	}
}
