package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// TestMain lets the test binary act as a hook that records its argv.
func TestMain(m *testing.M) {
	if p := os.Getenv("HOOKS_TEST_ARGV"); p != "" {
		if err := os.WriteFile(p, []byte(strings.Join(os.Args, "|")), 0o644); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// script writes an executable /bin/sh script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func intp(i int) *int { return &i }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	state := &rspec.State{Version: rspec.Version, ID: "c1", Status: rspec.StateCreating, Pid: 42, Bundle: "/b",
		Annotations: map[string]string{"k": "v"}}

	tests := []struct {
		name    string
		hook    rspec.Hook
		wantErr string // substring; "" means success
		want    string // expected content of out, if not ""
		noOut   bool   // out must exist and be empty
	}{
		{
			name: "argv0 from args",
			hook: rspec.Hook{Path: self, Args: []string{"not-the-path", "a", "b c"}, Env: []string{"HOOKS_TEST_ARGV=" + out}},
			want: "not-the-path|a|b c",
		},
		{
			name: "argv0 defaults to path",
			hook: rspec.Hook{Path: self, Env: []string{"HOOKS_TEST_ARGV=" + out}},
			want: self,
		},
		{
			name: "env exact",
			hook: rspec.Hook{Path: script(t, dir, "env", `env | grep -v '^PWD=' | sort > `+out), Env: []string{"A=1", "B=two"}},
			want: "A=1\nB=two\n",
		},
		{
			name:  "empty env",
			hook:  rspec.Hook{Path: script(t, dir, "noenv", `env | grep -v '^PWD=' > `+out+`; true`)},
			noOut: true,
		},
		{
			name: "state on stdin",
			hook: rspec.Hook{Path: script(t, dir, "stdin", `cat > `+out)},
		},
		{
			name: "stdin not read",
			hook: rspec.Hook{Path: script(t, dir, "noread", `exit 0`)},
		},
		{
			name:    "exit status with output tail",
			hook:    rspec.Hook{Path: script(t, dir, "fail", `echo to-stdout; echo boom >&2; exit 3`)},
			wantErr: "createRuntime hook " + filepath.Join(dir, "fail") + " (index 0): exit status 3: to-stdout\nboom",
		},
		{
			name:    "relative path",
			hook:    rspec.Hook{Path: "bin/true"},
			wantErr: "path must be absolute",
		},
		{
			name:    "zero timeout",
			hook:    rspec.Hook{Path: "/bin/true", Timeout: intp(0)},
			wantErr: "timeout must be greater than zero",
		},
		{
			name:    "missing binary",
			hook:    rspec.Hook{Path: filepath.Join(dir, "missing")},
			wantErr: "no such file",
		},
		{
			name: "finishes within timeout",
			hook: rspec.Hook{Path: "/bin/true", Timeout: intp(5)},
		},
		{
			name: "daemon child keeps stdout open",
			hook: rspec.Hook{Path: script(t, dir, "daemon", `sleep 3 & exit 0`)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			start := time.Now()
			err := Run(CreateRuntime, []rspec.Hook{tc.hook}, state)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Run error = %v, want containing %q", err, tc.wantErr)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("Run took %v", d)
			}
			if tc.name == "state on stdin" {
				var got rspec.State
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatalf("hook stdin %q: %v", b, err)
				}
				if got.ID != "c1" || got.Pid != 42 || got.Status != rspec.StateCreating || got.Bundle != "/b" || got.Annotations["k"] != "v" {
					t.Fatalf("hook got state %+v", got)
				}
				return
			}
			if tc.want != "" || tc.noOut {
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != tc.want {
					t.Fatalf("hook wrote %q, want %q", b, tc.want)
				}
			}
		})
	}
}

func TestRunTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// The background sleep holds the output pipe and must die with the hook.
	h := rspec.Hook{Path: script(t, dir, "slow", `echo started; sleep 30 & echo $! > `+pidFile+`; wait`), Timeout: intp(1)}
	start := time.Now()
	err := Run(Poststart, []rspec.Hook{h}, &rspec.State{})
	d := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timed out after 1s: started") {
		t.Fatalf("Run error = %v, want timeout", err)
	}
	if d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// Killed, perhaps not yet reaped by whoever adopted it: gone or a zombie.
	for i := 0; ; i++ {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if i == 100 {
			t.Fatalf("hook child %d still alive after timeout: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunStopsAtFirstFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hooks := []rspec.Hook{
		{Path: script(t, dir, "one", `echo one >> `+out)},
		{Path: "/bin/false"},
		{Path: script(t, dir, "three", `echo three >> `+out)},
	}
	err := Run(Prestart, hooks, &rspec.State{})
	if err == nil || !strings.Contains(err.Error(), "prestart hook /bin/false (index 1): exit status 1") {
		t.Fatalf("Run error = %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "one\n" {
		t.Fatalf("hooks ran: %q, want only the first", b)
	}
}

func TestRunAll(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hooks := []rspec.Hook{
		{Path: "/bin/false"},
		{Path: script(t, dir, "two", `echo two >> `+out)},
		{Path: script(t, dir, "three", `echo three >> `+out+`; exit 4`)},
		{Path: script(t, dir, "four", `echo four >> `+out)},
	}
	err := RunAll(Poststop, hooks, &rspec.State{})
	if b, _ := os.ReadFile(out); string(b) != "two\nthree\nfour\n" {
		t.Fatalf("hooks ran: %q, want all", b)
	}
	if err == nil {
		t.Fatal("RunAll: no error")
	}
	for _, want := range []string{"poststop hook /bin/false (index 0): exit status 1", "(index 2): exit status 4"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("RunAll error %q lacks %q", err, want)
		}
	}
	if err := RunAll(Poststop, nil, nil); err != nil {
		t.Fatalf("RunAll(no hooks) = %v", err)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name   string
		writes []int // sizes of successive writes of a rolling byte pattern
	}{
		{"small", []int{10, 20}},
		{"exact", []int{outputMax}},
		{"one big", []int{3 * outputMax}},
		{"many small", []int{1000, 1000, 1000, 1000, 1000, 1000}},
		{"small then big", []int{5, outputMax + 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var all []byte
			var tl tail
			for _, n := range tc.writes {
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(len(all) + i)
				}
				all = append(all, p...)
				if m, err := tl.Write(p); m != n || err != nil {
					t.Fatalf("Write = %d, %v", m, err)
				}
			}
			want := all
			if len(want) > outputMax {
				want = want[len(want)-outputMax:]
			}
			if string(tl.b) != string(want) {
				t.Fatalf("tail kept %d bytes, want the last %d", len(tl.b), len(want))
			}
		})
	}
}
