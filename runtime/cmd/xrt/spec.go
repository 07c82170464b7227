package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/specs"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json into the bundle",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle directory"},
		&cli.BoolFlag{Name: "rootless", Usage: "a config for a container started without root"},
	},
	Action: func(ctx *cli.Context) error {
		s := specs.Default()
		if ctx.Bool("rootless") {
			specs.ToRootless(s)
		}
		path := filepath.Join(ctx.String("bundle"), "config.json")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s already exists: remove it first", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		b, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(b, '\n'), 0o666)
	},
}

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print the features document of the runtime-spec",
	Action: func(ctx *cli.Context) error {
		return printJSON(specs.Features(version))
	},
}
