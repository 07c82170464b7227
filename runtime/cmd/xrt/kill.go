package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/container"
	"github.com/xrt-dev/xrt/specs"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's init",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 || ctx.NArg() > 2 {
			return fmt.Errorf("kill: expects a container id and an optional signal, got %d argument(s)", ctx.NArg())
		}
		sig := unix.SIGTERM
		if ctx.NArg() == 2 {
			var err error
			if sig, err = parseSignal(ctx.Args().Get(1)); err != nil {
				return err
			}
		}
		c, err := container.Load(ctx.String("root"), ctx.Args().First())
		if err != nil {
			return err
		}
		return c.Kill(sig, ctx.Bool("all"))
	},
}

// parseSignal takes a number, or a name with or without "SIG" in any case.
func parseSignal(s string) (unix.Signal, error) { return specs.ParseSignal(s) }

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a stopped container (or any, with --force)",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container if it is running"},
	},
	Action: func(ctx *cli.Context) error {
		c, err := load(ctx)
		if err != nil {
			if ctx.Bool("force") && errors.Is(err, container.ErrNotExist) {
				return nil // as runc: forcing away what is not there succeeds
			}
			return err
		}
		return c.Delete(ctx.Bool("force"))
	},
}
