// Command xrt is an OCI runtime with runc's command line.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/runtime/container"
	"github.com/xrt-dev/xrt/runtime/initproc"
	_ "github.com/xrt-dev/xrt/runtime/nsenter" // joins namespaces before the Go runtime starts
)

// version is set by the Makefile (-X main.version=...).
var version = "dev"

func init() {
	// The container's init must stay on the main thread: namespaces,
	// capabilities and LSM labels it sets are per thread, and the same
	// thread execs the user's program. Checked before flags are parsed, to
	// keep container start fast.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.GOMAXPROCS(1)
		runtime.LockOSThread()
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		initproc.Main()
	}
	app := &cli.App{
		Name:                 "xrt",
		Usage:                "an OCI runtime (runc-compatible command line)",
		Version:              version + "\nspec: " + specVersion(),
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: "/run/xrt", Usage: "directory for the state of containers"},
			&cli.StringFlag{Name: "log", Usage: "write log lines to this file instead of stderr"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "ask systemd for the cgroup (a transient unit; linux.cgroupsPath is slice:prefix:name)"},
			&cli.StringFlag{Name: "criu", Hidden: true},
			&cli.StringFlag{Name: "rootless", Value: "auto", Hidden: true},
		},
		Before: setupLogging,
		Commands: []*cli.Command{
			createCommand, startCommand, runCommand, stateCommand, killCommand,
			deleteCommand, listCommand, specCommand, featuresCommand, execCommand,
			psCommand, pauseCommand, resumeCommand, updateCommand, eventsCommand,
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main prints and exits
	}
	err := app.Run(os.Args)
	if err == nil {
		return
	}
	var exit *exitCode
	if errors.As(err, &exit) {
		os.Exit(exit.code)
	}
	slog.Error(err.Error())
	if logToFile {
		fmt.Fprintln(os.Stderr, "xrt:", err)
	}
	os.Exit(1)
}

// exitCode makes main exit with code without printing anything.
type exitCode struct{ code int }

func (e *exitCode) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// checkArgs checks a command got exactly n positional arguments.
func checkArgs(ctx *cli.Context, n int, usage string) error {
	if ctx.NArg() != n {
		return fmt.Errorf("%s: expects %s, got %d argument(s)", ctx.Command.Name, usage, ctx.NArg())
	}
	return nil
}

func load(ctx *cli.Context) (*container.Container, error) {
	if err := checkArgs(ctx, 1, "a container id"); err != nil {
		return nil, err
	}
	return container.Load(ctx.String("root"), ctx.Args().First())
}
