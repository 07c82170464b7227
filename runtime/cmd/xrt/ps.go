package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/runtime/container"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes of a container (ps(1) options may follow the id)",
	ArgsUsage: "<container-id> [ps options]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json (a JSON array of host pids)"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 {
			return fmt.Errorf("ps: expects a container id, got no argument")
		}
		format := ctx.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("--format %q: must be table or json", format)
		}
		c, err := container.Load(ctx.String("root"), ctx.Args().First())
		if err != nil {
			return err
		}
		pids, err := c.Pids()
		if err != nil {
			return err
		}
		if format == "json" {
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids) // one line, as runc prints it
		}
		args := ctx.Args().Tail()
		if len(args) == 0 {
			args = []string{"-ef"}
		}
		var stderr bytes.Buffer
		cmd := exec.Command("ps", args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("ps %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
		}
		filtered, err := container.FilterPs(out, pids)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(filtered)
		return err
	},
}
