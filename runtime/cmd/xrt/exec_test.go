package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/runtime/container"
)

type parsedExec struct{ container.ExecOptions }

func TestParseExec(t *testing.T) {
	dir := t.TempDir()
	procFile := filepath.Join(dir, "process.json")
	if err := os.WriteFile(procFile, []byte(`{"args":["ls"],"cwd":"/"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		id      string
		check   func(t *testing.T, got parsedExec)
		wantErr string
	}{
		{name: "id and command; flags after the id are the command's",
			args: []string{"c1", "ls", "-l", "--tty"}, id: "c1",
			check: func(t *testing.T, g parsedExec) {
				if !reflect.DeepEqual(g.Args, []string{"ls", "-l", "--tty"}) || g.Tty {
					t.Errorf("got %+v", g.ExecOptions)
				}
			}},
		{name: "containerd's form",
			args: []string{"--process", procFile, "--detach", "--pid-file", "/x/pid", "--console-socket", "/x/sock", "c2"}, id: "c2",
			check: func(t *testing.T, g parsedExec) {
				if g.Process == nil || g.Process.Args[0] != "ls" || !g.Detach || g.PidFile != "/x/pid" || g.ConsoleSocket != "/x/sock" {
					t.Errorf("got %+v", g.ExecOptions)
				}
			}},
		{name: "every flag, short and long",
			args: []string{"-t", "-d", "-e", "A=1,2", "--env", "B=2", "--cwd", "/tmp", "-u", "1:2", "-g", "5", "--additional-gids=6",
				"-c", "CAP_KILL", "--cap", "CAP_CHOWN", "--no-new-privs", "--apparmor", "prof", "--process-label", "lbl",
				"--preserve-fds", "2", "--ignore-paused", "c3", "sh"}, id: "c3",
			check: func(t *testing.T, g parsedExec) {
				o := g.ExecOptions
				if !o.Tty || !o.Detach || !reflect.DeepEqual(o.Env, []string{"A=1,2", "B=2"}) || o.Cwd != "/tmp" || o.User != "1:2" ||
					!reflect.DeepEqual(o.AdditionalGids, []int64{5, 6}) || !reflect.DeepEqual(o.Caps, []string{"CAP_KILL", "CAP_CHOWN"}) ||
					o.NoNewPrivs == nil || !*o.NoNewPrivs || o.AppArmor != "prof" || o.ProcessLabel != "lbl" || o.PreserveFds != 2 ||
					!o.IgnorePaused || !reflect.DeepEqual(o.Args, []string{"sh"}) {
					t.Errorf("got %+v", o)
				}
			}},
		{name: "no-new-privs=false is kept as an override",
			args: []string{"--no-new-privs=false", "c4", "true"}, id: "c4",
			check: func(t *testing.T, g parsedExec) {
				if g.NoNewPrivs == nil || *g.NoNewPrivs {
					t.Errorf("NoNewPrivs %v", g.NoNewPrivs)
				}
			}},
		{name: "no-new-privs unset", args: []string{"c5", "true"}, id: "c5",
			check: func(t *testing.T, g parsedExec) {
				if g.NoNewPrivs != nil {
					t.Errorf("NoNewPrivs %v", *g.NoNewPrivs)
				}
			}},
		{name: "no id", args: nil, wantErr: "container id"},
		{name: "only flags", args: []string{"-t"}, wantErr: "container id"},
		{name: "unknown flag", args: []string{"--bogus", "c"}, wantErr: "bogus"},
		{name: "bad gid", args: []string{"-g", "x", "c", "true"}, wantErr: "group id"},
		{name: "negative preserve-fds", args: []string{"--preserve-fds", "-1", "c", "true"}, wantErr: "preserve-fds"},
		{name: "missing process.json", args: []string{"--process", filepath.Join(dir, "nope"), "c"}, wantErr: "--process"},
		{name: "bad process.json", args: []string{"--process", filepath.Join(dir, "bad.json"), "c"}, wantErr: "bad.json"},
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"args":`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, id, err := parseExec(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.id {
				t.Errorf("id %q, want %q", id, tc.id)
			}
			tc.check(t, parsedExec{o})
		})
	}
	if _, _, err := parseExec([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

// The written-out help names every flag the parser knows.
func TestExecHelpComplete(t *testing.T) {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	var o container.ExecOptions
	var process string
	var nnp optionalBool
	execFlags(fs, &o, &process, &nnp)
	fs.VisitAll(func(f *flag.Flag) {
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		if !strings.Contains(execHelp, dashes+f.Name+" ") && !strings.Contains(execHelp, dashes+f.Name+",") {
			t.Errorf("the help does not list %s%s", dashes, f.Name)
		}
	})
}
