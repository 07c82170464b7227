package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/shim/proto"
)

// fakeShim answers the control socket in dir with handle, one request per
// connection, as the shim does. It checks the client's side of the
// protocol; the real shim is tested in tests/shim.
func fakeShim(t *testing.T, dir string, handle func(c net.Conn, req proto.Fields)) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				kind, payload, _, err := proto.ReadFrame(c, nil)
				if err != nil || kind != proto.KindRequest {
					return
				}
				req, _ := proto.UnmarshalFields(payload)
				if proto.CheckVersion(req) != nil {
					return
				}
				handle(c, req)
			}()
		}
	}()
}

func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "shimc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func reply(c net.Conn, f proto.Fields) { proto.WriteFrame(c, proto.KindResponse, f.Marshal()) }

func TestCalls(t *testing.T) {
	dir := shortDir(t)
	var got []string
	fakeShim(t, dir, func(c net.Conn, req proto.Fields) {
		got = append(got, req.Get("op")+" "+req.Get("signal")+req.Get("all")+req.Get("width")+req.Get("height"))
		switch req.Get("op") {
		case proto.OpState:
			reply(c, proto.Make("id", "c1", "pid", "42", "shim-pid", "41", "status", "stopped", proto.FieldExitCode, "137", proto.FieldSignal, "9", proto.FieldExitedAt, "2026-01-02T03:04:05.000000006Z", proto.FieldOOMKilled, "1"))
		case proto.OpWait:
			reply(c, proto.Make(proto.FieldExitCode, "3", proto.FieldExitedAt, "2026-01-02T03:04:05Z"))
		case proto.OpKill:
			reply(c, proto.Make(proto.FieldError, "the container has exited"))
		default:
			reply(c, nil)
		}
	})
	ctx := context.Background()
	s, err := Connect(ctx, dir)
	if err != nil || s.Pid != 42 {
		t.Fatalf("connect: %+v, %v", s, err)
	}
	st, err := s.State(ctx)
	if err != nil || st.Status != "stopped" || st.ShimPid != 41 || st.Exit == nil ||
		st.Exit.ExitCode != 137 || st.Exit.Signal != 9 || !st.Exit.OOMKilled || st.Exit.ExitedAt.Nanosecond() != 6 {
		t.Errorf("state: %+v %+v, %v", st, st.Exit, err)
	}
	if e, err := s.Wait(ctx); err != nil || e.ExitCode != 3 || e.Pid != 42 {
		t.Errorf("wait: %+v, %v", e, err)
	}
	if err := s.Kill(ctx, 9, true); err == nil || err.Error() != "the container has exited" {
		t.Errorf("kill: %v", err)
	}
	if err := s.Resize(ctx, 80, 24); err != nil {
		t.Errorf("resize: %v", err)
	}
	want := "state ,state ,wait ,kill 91,resize 8024"
	if strings.Join(got, ",") != want {
		t.Errorf("requests %q, want %q", strings.Join(got, ","), want)
	}
}

func TestAttachStream(t *testing.T) {
	dir := shortDir(t)
	stdin := make(chan string, 4)
	fakeShim(t, dir, func(c net.Conn, req proto.Fields) {
		if !req.Bool("stdin") || !req.Bool("stdout") || req.Bool("stderr") || req.Get("detach-keys") != "ctrl-x" {
			reply(c, proto.Make(proto.FieldError, "bad attach request"))
			return
		}
		reply(c, nil)
		proto.WriteFrame(c, proto.KindStdout, []byte("hello "))
		kind, payload, _, _ := proto.ReadFrame(c, nil)
		stdin <- string(kind) + string(payload)
		kind, payload, _, _ = proto.ReadFrame(c, nil)
		stdin <- string(kind) + string(payload)
		proto.WriteFrame(c, proto.KindStdout, []byte("world"))
		proto.WriteFrame(c, proto.KindDetached, nil)
	})
	var out bytes.Buffer
	s := &Shim{dir: dir}
	_, err := s.Attach(context.Background(), Streams{Stdin: strings.NewReader("typed"), CloseStdinOnEOF: true, Stdout: &out, DetachKeys: "ctrl-x"})
	if !errors.Is(err, ErrDetached) || out.String() != "hello world" {
		t.Errorf("attach: %v, output %q", err, out.String())
	}
	if a, b := <-stdin, <-stdin; a != "ityped" || b != "c" {
		t.Errorf("stdin frames %q %q", a, b)
	}
}

func TestAttachEndsWithExit(t *testing.T) {
	dir := shortDir(t)
	fakeShim(t, dir, func(c net.Conn, req proto.Fields) {
		reply(c, nil)
		proto.WriteFrame(c, proto.KindStderr, []byte("oops"))
		proto.WriteFrame(c, proto.KindExit, proto.Make(proto.FieldExitCode, "1").Marshal())
	})
	var errb bytes.Buffer
	e, err := (&Shim{dir: dir}).Attach(context.Background(), Streams{Stderr: &errb})
	if err != nil || e == nil || e.ExitCode != 1 || errb.String() != "oops" {
		t.Errorf("attach: %+v, %v, %q", e, err, errb.String())
	}
}

func TestContextEndsCall(t *testing.T) {
	dir := shortDir(t)
	fakeShim(t, dir, func(c net.Conn, req proto.Fields) {
		time.Sleep(time.Hour) // never answers
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := (&Shim{dir: dir}).Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait: %v", err)
	}
}

func TestRecover(t *testing.T) {
	root := shortDir(t)
	mk := func(name, info, exit string) string {
		d := filepath.Join(root, name)
		os.Mkdir(d, 0o700)
		if info != "" {
			os.WriteFile(filepath.Join(d, infoName), []byte(info), 0o600)
		}
		if exit != "" {
			os.WriteFile(filepath.Join(d, exitName), []byte(exit), 0o600)
		}
		return d
	}
	live := mk("a-live", `{"version":1,"id":"live","shim_pid":1,"pid":2}`, "")
	fakeShim(t, live, func(c net.Conn, req proto.Fields) {
		reply(c, proto.Make("id", "live", "pid", "2", "status", "running"))
	})
	mk("b-exited", `{"version":1,"id":"exited","shim_pid":3,"pid":4}`, `{"id":"exited","pid":4,"exit_code":143,"signal":15,"exited_at":"2026-01-02T03:04:05Z","oom_killed":false}`)
	mk("c-lost", `{"version":1,"id":"lost","shim_pid":5,"pid":6}`, "")
	mk("d-not-a-shim", "", "")
	mk("e-bad-info", `{`, "")
	mk("f-future", `{"version":2,"id":"future"}`, "")
	os.WriteFile(filepath.Join(root, "file"), nil, 0o600)

	rec, err := Recover(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rec {
		switch {
		case r.Shim != nil && r.Exit == nil && r.Err == nil:
			got = append(got, r.ID+":live")
		case r.Exit != nil && r.Shim == nil && r.Err == nil:
			got = append(got, r.ID+":exit", strconv.Itoa(r.Exit.ExitCode))
		case r.Err != nil && r.Shim == nil && r.Exit == nil:
			got = append(got, r.ID+":err")
		default:
			t.Errorf("%s: more than one of Shim, Exit, Err: %+v", r.ID, r)
		}
	}
	if s := strings.Join(got, " "); s != "e-bad-info:err exited:exit 143 f-future:err live:live lost:err" {
		t.Errorf("recovered %q", s)
	}
	if _, err := Recover(context.Background(), filepath.Join(root, "missing")); err == nil {
		t.Error("a missing root recovered")
	}
}

// TestStartReport checks how Start reads the shim's report on fd 3, with
// stand-in shims (shell scripts): the real one is tested in tests/shim.
func TestStartReport(t *testing.T) {
	dir := shortDir(t)
	cases := []struct {
		name, script string
		pid          int
		err          string
	}{
		{"ok", `[ "$1" = --daemon ] && echo "ok 42" >&3`, 42, ""},
		{"error", `echo "error runtime /x: no such file or directory" >&3; exit 1`, 0, "start container c1: runtime /x: no such file or directory"},
		{"silent", `exit 3`, 0, "the shim exited without reporting"},
		{"garbage", `echo "ok pid" >&3`, 0, `report "ok pid"`},
	}
	for _, tc := range cases {
		bin := filepath.Join(dir, tc.name)
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		s, err := Start(context.Background(), Options{Binary: bin, ID: "c1", Bundle: "b", StateDir: dir, LogPath: "l"})
		switch {
		case tc.err == "" && (err != nil || s.Pid != tc.pid || s.StateDir() != dir):
			t.Errorf("%s: %+v, %v", tc.name, s, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}
