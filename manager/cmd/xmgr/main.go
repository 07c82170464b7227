// Command xmgr is the container manager: `xmgr daemon` serves the Docker
// Engine API on a unix socket, and every other command is a client of that
// API with Docker's command names, flags and output.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/progress"
)

// version is set by the Makefile (-X main.version=...).
var version = "dev"

// Exit codes: 1 for a failed command (daemon errors included, as the
// Docker CLI's image commands), 125 for wrong usage (as docker).
const (
	exitError = 1
	exitUsage = 125
)

// usageError marks a command line that cannot be run at all.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func newApp() *cli.App {
	app := &cli.App{
		Name:    "xmgr",
		Usage:   "a container manager with Docker's command line and API",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "host", Aliases: []string{"H"}, EnvVars: []string{"XMGR_HOST", "DOCKER_HOST"},
				Usage: "daemon socket to connect to (unix:///path or tcp://host:port)"},
			&cli.StringFlag{Name: "config", EnvVars: []string{"DOCKER_CONFIG"},
				Usage: "location of the client config files (registry credentials)"},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "enable debug output"},
		},
		Commands: append(append([]*cli.Command{
			daemonCommand,
			versionCommand, infoCommand,
			pullCommand, pushCommand, imagesCommand, inspectCommand, historyCommand,
			tagCommand, rmiCommand, saveCommand, loadCommand, importCommand,
			loginCommand, logoutCommand, eventsCommand,
			imageCommand, systemCommand,
			buildCommand(), builderCommand(),
		}, runCommands()...), manageCommands()...),
		OnUsageError:           func(_ *cli.Context, err error, _ bool) error { return &usageError{err.Error()} },
		ExitErrHandler:         func(*cli.Context, error) {}, // main prints and exits
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		// --change 'CMD ["a","b"]' and --filter values hold commas.
		DisableSliceFlagSeparator: true,
	}
	for _, c := range app.Commands {
		setupCommand(c)
	}
	return app
}

// setupCommand gives every command docker's flag handling: combined short
// flags (-aq) and a one-line usage error instead of the whole help.
func setupCommand(c *cli.Command) {
	c.UseShortOptionHandling = true
	c.HideHelpCommand = true
	c.OnUsageError = func(ctx *cli.Context, err error, _ bool) error {
		return usagef("%v\nSee 'xmgr %s --help'.", err, ctx.Command.FullName())
	}
	for _, sc := range c.Subcommands {
		setupCommand(sc)
	}
}

func main() {
	app := newApp()
	err := app.Run(interspersed(app, os.Args))
	if err == nil {
		return
	}
	os.Exit(report(err))
}

// report prints err as "xmgr: <message>" and picks the exit code.
func report(err error) int {
	msg := err.Error()
	var se *progress.StreamError
	if errors.As(err, &se) {
		msg = se.Message
	}
	fmt.Fprintln(os.Stderr, "xmgr: "+strings.TrimSpace(msg))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return exitError
}

// subcommandUsage makes the usage error of a command given the wrong
// number of arguments, in Docker's words.
func argsError(c *cli.Context, want string) error {
	return usagef("%q requires %s.\nSee 'xmgr %s --help'.", c.Command.FullName(), want, c.Command.FullName())
}

func needArgs(c *cli.Context, n int) error {
	if c.NArg() < n {
		if n == 1 {
			return argsError(c, "at least 1 argument")
		}
		return argsError(c, fmt.Sprintf("at least %d arguments", n))
	}
	return nil
}

func exactArgs(c *cli.Context, n int) error {
	if c.NArg() != n {
		if n == 1 {
			return argsError(c, "exactly 1 argument")
		}
		return argsError(c, fmt.Sprintf("exactly %d arguments", n))
	}
	return nil
}
