package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/runtime/container"
)

// execCommand parses its own flags with the standard library: urfave/cli
// looks up every declared flag and alias several times per run (through
// regular expressions), half a millisecond for exec's fifteen flags, on a
// command whose whole run is a few milliseconds. The flags are runc's, and
// as with runc they come before the id: what follows the id is the command.
var execCommand = &cli.Command{
	Name:            "exec",
	Usage:           "run a new process inside a running container",
	ArgsUsage:       "[flags] <container-id> [command [args...]]",
	SkipFlagParsing: true,
	CustomHelpTemplate: `NAME:
   xrt exec - {{.Usage}}

USAGE:
   xrt exec {{.ArgsUsage}}

The process joins the container's namespaces and cgroup and gets its seccomp
filter; it is config.json's process with the command and the flags applied, or,
with --process, the process in that JSON file. In the foreground xrt exec waits
and exits with the process's exit code (128+N when killed by signal N).

FLAGS:
` + execHelp,
	Action: func(ctx *cli.Context) error {
		o, id, err := parseExec(ctx.Args().Slice(), io.Discard)
		if errors.Is(err, flag.ErrHelp) {
			// Help is looked up from the app's context, not the command's.
			return cli.ShowCommandHelp(ctx.Lineage()[1], "exec")
		}
		if err != nil {
			return err
		}
		c, err := container.Load(ctx.String("root"), id)
		if err != nil {
			return err
		}
		code, err := c.Exec(o)
		if err != nil {
			return err
		}
		if code != 0 {
			return &exitCode{code}
		}
		return nil
	},
}

// execFlags declares exec's flags on fs, filling o. Each name is a flag of
// runc exec; aliases are separate names pointing at the same value.
func execFlags(fs *flag.FlagSet, o *container.ExecOptions, process *string, noNewPrivs *optionalBool) {
	str := func(p *string, usage string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, "", usage)
		}
	}
	boolean := func(p *bool, usage string, names ...string) {
		for _, n := range names {
			fs.BoolVar(p, n, false, usage)
		}
	}
	list := func(v flag.Value, usage string, names ...string) {
		for _, n := range names {
			fs.Var(v, n, usage)
		}
	}
	str(process, "path to a process.json (the flags that change the process are then ignored)", "process", "p")
	boolean(&o.Tty, "give the process a pseudo-terminal", "tty", "t")
	str(&o.ConsoleSocket, "unix socket that receives the pty master", "console-socket")
	boolean(&o.Detach, "return once the process runs", "detach", "d")
	str(&o.PidFile, "write the process's pid to this file", "pid-file")
	list((*stringList)(&o.Env), "set an environment variable NAME=VALUE (repeatable)", "env", "e")
	str(&o.Cwd, "working directory inside the container", "cwd")
	str(&o.User, "UID[:GID] to run as", "user", "u")
	list((*gidList)(&o.AdditionalGids), "an additional group id (repeatable)", "additional-gids", "g")
	list((*stringList)(&o.Caps), "add a capability (repeatable)", "cap", "c")
	fs.Var(noNewPrivs, "no-new-privs", "set no_new_privs for the process")
	str(&o.AppArmor, "AppArmor profile for the process", "apparmor")
	str(&o.ProcessLabel, "SELinux label for the process", "process-label")
	fs.IntVar(&o.PreserveFds, "preserve-fds", 0, "pass this many fds (from 3 up) to the process")
	boolean(&o.IgnorePaused, "exec even if the container is paused", "ignore-paused")
}

// parseExec reads `[flags] <id> [command...]`.
func parseExec(args []string, errOut io.Writer) (container.ExecOptions, string, error) {
	var o container.ExecOptions
	var process string
	var nnp optionalBool
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	fs.SetOutput(errOut)
	execFlags(fs, &o, &process, &nnp)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, "", err
		}
		return o, "", fmt.Errorf("exec: %w", err)
	}
	if fs.NArg() < 1 {
		return o, "", errors.New("exec: expects a container id and a command")
	}
	id := fs.Arg(0)
	o.Args = fs.Args()[1:]
	if nnp.set {
		o.NoNewPrivs = &nnp.val
	}
	if o.PreserveFds < 0 {
		return o, "", fmt.Errorf("--preserve-fds %d: must not be negative", o.PreserveFds)
	}
	if process != "" {
		p, err := readProcess(process)
		if err != nil {
			return o, "", err
		}
		o.Process = p
	}
	return o, id, nil
}

// execHelp lists the flags for `xrt exec --help`. It is written out rather
// than generated from the flag set, which would cost every xrt process
// (containers' init too) a flag set at start-up; a test keeps it complete.
const execHelp = `   --process, -p FILE        a process.json: the process to run (the flags that
                             change the process are then ignored)
   --tty, -t                 give the process a pseudo-terminal
   --console-socket PATH     unix socket that receives the pty master
   --detach, -d              return once the process runs
   --pid-file FILE           write the process's pid to FILE
   --env, -e NAME=VALUE      set an environment variable (repeatable)
   --cwd DIR                 working directory inside the container
   --user, -u UID[:GID]      the user to run as
   --additional-gids, -g GID an additional group id (repeatable)
   --cap, -c CAP             add a capability (repeatable)
   --no-new-privs            set no_new_privs for the process
   --apparmor PROFILE        AppArmor profile for the process
   --process-label LABEL     SELinux label for the process
   --preserve-fds N          pass N fds (from 3 up) to the process
   --ignore-paused           exec even if the container is paused
`

func readProcess(path string) (*rspec.Process, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--process: %w", err)
	}
	var p rspec.Process
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("--process %s: %w", path, err)
	}
	return &p, nil
}

// stringList is a repeatable string flag that keeps each value whole
// (urfave/cli's slices split at commas, and an env value may hold one).
type stringList []string

func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
func (l *stringList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// gidList is a repeatable group id flag.
type gidList []int64

func (l *gidList) Set(v string) error {
	g, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("not a group id: %q", v)
	}
	*l = append(*l, g)
	return nil
}

func (l *gidList) String() string {
	if l == nil {
		return ""
	}
	return fmt.Sprint([]int64(*l))
}

// optionalBool is a boolean flag that knows whether it was given, so that
// --no-new-privs=false can override config.json, as with runc.
type optionalBool struct{ set, val bool }

func (b *optionalBool) IsBoolFlag() bool { return true }
func (b *optionalBool) String() string {
	if b == nil {
		return "false"
	}
	return strconv.FormatBool(b.val)
}

func (b *optionalBool) Set(v string) error {
	val, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	b.set, b.val = true, val
	return nil
}
