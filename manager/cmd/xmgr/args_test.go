package main

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/progress"
)

func TestInterspersed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"flag after argument", "save m5/bb:1 -o f.tar", "save -o f.tar m5/bb:1"},
		{"long flag with =", "save m5/bb:1 --output=f.tar", "save --output=f.tar m5/bb:1"},
		{"long flag, separate value", "save a b --output f.tar", "save --output f.tar a b"},
		{"switch after argument", "images busybox -q", "images -q busybox"},
		{"rmi -f last", "rmi x -f", "rmi -f x"},
		{"combined switches", "images busybox -aq", "images -aq busybox"},
		{"combined, value last", "images -qf dangling=true", "images -qf dangling=true"},
		{"combined, value last, after arg", "images bb -qf dangling=true", "images -qf dangling=true bb"},
		{"repeated value flag", "import - m5:1 -c CMD\\ [\"sh\"] -m msg -c USER\\ 1",
			"import -c CMD\\ [\"sh\"] -m msg -c USER\\ 1 - m5:1"},
		{"stdin dash stays an argument", "import -m x -", "import -m x -"},
		{"a value that looks like a flag", "tag a b", "tag a b"},
		{"value of -o is not an argument", "save -o -weird.tar a", "save -o -weird.tar a"},
		{"double dash", "rmi a -f -- -b", "rmi -f -- a -b"},
		{"double dash only", "rmi -- a", "rmi -- a"},
		{"global flags stay in front", "-H unix:///x.sock save a -o f", "-H unix:///x.sock save -o f a"},
		{"global value flag with =", "--host=unix:///x save a -o f", "--host=unix:///x save -o f a"},
		{"subcommand", "image ls bb -q --digests", "image ls -q --digests bb"},
		{"subcommand alias", "image rm x -f", "image rm -f x"},
		{"system df -v", "system df -v", "system df -v"},
		{"inspect format after names", "inspect a b -f {{.Id}}", "inspect -f {{.Id}} a b"},
		{"login flags after server", "login localhost:5000 -u me -p pw", "login -u me -p pw localhost:5000"},
		{"unknown flag kept for urfave to reject", "images a --bogus", "images --bogus a"},
		{"unknown command untouched", "frob a -x", "frob a -x"},
		{"no command", "--debug", "--debug"},
		{"help", "save --help", "save --help"},
		{"value missing at the end", "save busybox -o", "save -o"},
	}
	app := newApp()
	for _, tt := range tests {
		got := interspersed(app, append([]string{"xmgr"}, split(tt.in)...))[1:]
		if want := split(tt.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q -> %q, want %q", tt.name, tt.in, got, want)
		}
	}
}

// split is strings.Fields that keeps "\ " inside a word (for values
// holding spaces).
func split(s string) []string {
	words := strings.Fields(strings.ReplaceAll(s, `\ `, "\x00"))
	for i, w := range words {
		words[i] = strings.ReplaceAll(w, "\x00", " ")
	}
	return words
}

// TestInterspersedParse runs reordered command lines through urfave/cli
// itself, with every command's action replaced by a recorder: the flags
// must land on the flags and the rest on the arguments.
func TestInterspersedParse(t *testing.T) {
	type parsed struct {
		cmd    string   // the leaf command's name
		args   []string // its arguments
		flag   string   // the value of the flag named in the test
		global string   // -H
	}
	tests := []struct {
		argv     []string
		flagName string
		want     parsed
	}{
		{[]string{"save", "m5/bb:1", "-o", "f.tar"}, "output", parsed{"save", []string{"m5/bb:1"}, "f.tar", ""}},
		{[]string{"images", "busybox", "-q"}, "quiet", parsed{"images", []string{"busybox"}, "true", ""}},
		{[]string{"rmi", "x", "y", "-f"}, "force", parsed{"rmi", []string{"x", "y"}, "true", ""}},
		{[]string{"-H", "unix:///m5.sock", "image", "rm", "x", "--force"}, "force", parsed{"rm", []string{"x"}, "true", "unix:///m5.sock"}},
		{[]string{"rmi", "a", "-f", "--", "-b"}, "force", parsed{"rmi", []string{"a", "-b"}, "true", ""}},
		{[]string{"import", "-", "m5:1", "-c", `CMD ["a","b"]`, "-c", "USER 1"}, "change",
			parsed{"import", []string{"-", "m5:1"}, `CMD ["a","b"]|USER 1`, ""}},
	}
	for _, tt := range tests {
		app := newApp()
		var got parsed
		record := func(c *cli.Context) error {
			got = parsed{cmd: c.Command.Name, args: c.Args().Slice(), global: c.String("host")}
			switch v := c.Value(tt.flagName).(type) {
			case cli.StringSlice:
				got.flag = strings.Join(v.Value(), "|")
			case bool:
				got.flag = strconv.FormatBool(v)
			default:
				got.flag = c.String(tt.flagName)
			}
			return nil
		}
		var replace func(cmds []*cli.Command)
		replace = func(cmds []*cli.Command) {
			for _, c := range cmds {
				c.Action, c.Before = record, nil
				replace(c.Subcommands)
			}
		}
		replace(app.Commands)
		app.Before = nil
		t.Setenv("XMGR_HOST", "")
		t.Setenv("DOCKER_HOST", "")
		if err := app.Run(interspersed(app, append([]string{"xmgr"}, tt.argv...))); err != nil {
			t.Errorf("%q: %v", tt.argv, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: parsed %+v, want %+v", tt.argv, got, tt.want)
		}
	}
}

// TestLoadOutput: `xmgr load` prints what the daemon streams, line for
// line, as docker: no empty line after "Loaded image: x".
func TestLoadOutput(t *testing.T) {
	stream := `{"status":"Loading layer","id":"abc","progressDetail":{"current":1,"total":2},"progress":"[=>  ]"}
{"stream":"Loaded image: m5/bb:1\n"}
{"stream":"Loaded image ID: sha256:aaaa\n"}
`
	for _, term := range []bool{false, true} {
		var out bytes.Buffer
		if err := progress.Display(strings.NewReader(stream), &out, term); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if i := strings.Index(got, "Loaded"); i >= 0 {
			got = got[i:]
		}
		if want := "Loaded image: m5/bb:1\nLoaded image ID: sha256:aaaa\n"; got != want {
			t.Errorf("terminal=%v: load printed %q, want %q", term, got, want)
		}
	}
}
