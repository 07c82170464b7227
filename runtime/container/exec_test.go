package container

import (
	"reflect"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func baseProcess() *rspec.Process {
	return &rspec.Process{
		Args: []string{"sleep", "1000"},
		Env:  []string{"PATH=/bin", "TERM=xterm"},
		Cwd:  "/",
		User: rspec.User{UID: 0, GID: 0, AdditionalGids: []uint32{10}},
		Capabilities: &rspec.LinuxCapabilities{
			Bounding:    []string{"CAP_KILL"},
			Effective:   []string{"CAP_KILL"},
			Permitted:   []string{"CAP_KILL"},
			Inheritable: []string{"CAP_NET_RAW"},
		},
		Terminal:        true,
		NoNewPrivileges: true,
	}
}

func TestExecProcess(t *testing.T) {
	no := false
	cases := []struct {
		name    string
		o       ExecOptions
		check   func(t *testing.T, p *rspec.Process)
		wantErr string
	}{
		{
			name: "args only: the config's process with a new command, no terminal",
			o:    ExecOptions{Args: []string{"ls", "-l"}},
			check: func(t *testing.T, p *rspec.Process) {
				if !reflect.DeepEqual(p.Args, []string{"ls", "-l"}) || p.Terminal || p.Cwd != "/" || !p.NoNewPrivileges {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name: "env replaces by name, appends the rest, keeps commas",
			o:    ExecOptions{Args: []string{"env"}, Env: []string{"TERM=dumb", "A=1,2", "B="}},
			check: func(t *testing.T, p *rspec.Process) {
				want := []string{"PATH=/bin", "TERM=dumb", "A=1,2", "B="}
				if !reflect.DeepEqual(p.Env, want) {
					t.Errorf("env %q, want %q", p.Env, want)
				}
			},
		},
		{
			name: "user, gids, cwd, tty, labels, no-new-privs off",
			o: ExecOptions{Args: []string{"id"}, User: "1000:1001", AdditionalGids: []int64{5, 6}, Cwd: "/tmp",
				Tty: true, AppArmor: "", NoNewPrivs: &no},
			check: func(t *testing.T, p *rspec.Process) {
				u := p.User
				if u.UID != 1000 || u.GID != 1001 || !reflect.DeepEqual(u.AdditionalGids, []uint32{10, 5, 6}) {
					t.Errorf("user %+v", u)
				}
				if p.Cwd != "/tmp" || !p.Terminal || p.NoNewPrivileges {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name: "uid alone keeps the gid",
			o:    ExecOptions{Args: []string{"id"}, User: "7"},
			check: func(t *testing.T, p *rspec.Process) {
				if p.User.UID != 7 || p.User.GID != 0 {
					t.Errorf("user %+v", p.User)
				}
			},
		},
		{
			name: "caps go to bounding, effective, permitted; ambient only where inheritable",
			o:    ExecOptions{Args: []string{"true"}, Caps: []string{"CAP_SYS_ADMIN", "net_raw", "CAP_KILL"}},
			check: func(t *testing.T, p *rspec.Process) {
				c := p.Capabilities
				want := []string{"CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_RAW"}
				for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
					if !reflect.DeepEqual(set, want) {
						t.Errorf("%s %q, want %q", name, set, want)
					}
				}
				if !reflect.DeepEqual(c.Ambient, []string{"CAP_NET_RAW"}) {
					t.Errorf("ambient %q", c.Ambient)
				}
			},
		},
		{
			name: "--process wins over the flags",
			o: ExecOptions{Process: &rspec.Process{Args: []string{"/bin/x"}, Cwd: "/srv", Terminal: true},
				Args: []string{"ignored"}, Env: []string{"IGNORED=1"}, User: "5"},
			check: func(t *testing.T, p *rspec.Process) {
				if p.Args[0] != "/bin/x" || p.Cwd != "/srv" || len(p.Env) != 0 || p.User.UID != 0 || !p.Terminal {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name: "--process without cwd runs in /",
			o:    ExecOptions{Process: &rspec.Process{Args: []string{"true"}}},
			check: func(t *testing.T, p *rspec.Process) {
				if p.Cwd != "/" {
					t.Errorf("cwd %q", p.Cwd)
				}
			},
		},
		{name: "no command", o: ExecOptions{}, wantErr: "no command"},
		{name: "--process without args", o: ExecOptions{Process: &rspec.Process{Cwd: "/"}}, wantErr: "process.args"},
		{name: "relative cwd", o: ExecOptions{Args: []string{"true"}, Cwd: "tmp"}, wantErr: "process.cwd"},
		{name: "user name", o: ExecOptions{Args: []string{"true"}, User: "root"}, wantErr: "--user"},
		{name: "bad gid", o: ExecOptions{Args: []string{"true"}, User: "0:x"}, wantErr: "gid"},
		{name: "uid -1", o: ExecOptions{Args: []string{"true"}, User: "4294967295"}, wantErr: "--user"},
		{name: "negative additional gid", o: ExecOptions{Args: []string{"true"}, AdditionalGids: []int64{-1}}, wantErr: "--additional-gids"},
		{name: "unknown capability", o: ExecOptions{Args: []string{"true"}, Caps: []string{"CAP_BOGUS"}}, wantErr: "CAP_BOGUS"},
		{name: "env without =", o: ExecOptions{Args: []string{"true"}, Env: []string{"NOEQUALS"}}, wantErr: "process.env"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := baseProcess()
			p, err := ExecProcess(base, tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
			if !reflect.DeepEqual(base, baseProcess()) {
				t.Errorf("the config's process was changed: %+v", base)
			}
		})
	}
}

func TestExecProcessNoBase(t *testing.T) {
	if _, err := ExecProcess(nil, ExecOptions{Args: []string{"true"}}); err == nil {
		t.Error("want an error without a process in config.json")
	}
	if _, err := ExecProcess(nil, ExecOptions{Process: &rspec.Process{Args: []string{"true"}, Cwd: "/"}}); err != nil {
		t.Errorf("--process needs no base: %v", err)
	}
}

func TestParseUser(t *testing.T) {
	cases := []struct {
		in       string
		uid      uint32
		gid      *uint32
		wantFail bool
	}{
		{in: "0", uid: 0},
		{in: "1000:1000", uid: 1000, gid: ptrU32(1000)},
		{in: "65534:0", uid: 65534, gid: ptrU32(0)},
		{in: "", wantFail: true},
		{in: ":5", wantFail: true},
		{in: "5:", wantFail: true},
		{in: "-1", wantFail: true},
		{in: "1:2:3", wantFail: true},
		{in: "99999999999", wantFail: true},
	}
	for _, tc := range cases {
		uid, gid, err := parseUser(tc.in)
		if tc.wantFail {
			if err == nil {
				t.Errorf("%q: want an error", tc.in)
			}
			continue
		}
		if err != nil || uid != tc.uid || !reflect.DeepEqual(gid, tc.gid) {
			t.Errorf("%q: got %d %v %v", tc.in, uid, gid, err)
		}
	}
}

func ptrU32(v uint32) *uint32 { return &v }
