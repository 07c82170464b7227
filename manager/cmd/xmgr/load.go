package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/progress"
)

var loadCommand = &cli.Command{
	Name:  "load",
	Usage: "Load an image from a tar archive or STDIN",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read from tar archive file, instead of STDIN"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress the load output"},
	},
	Action: runLoad,
}

func runLoad(c *cli.Context) error {
	if c.NArg() > 0 {
		return argsError(c, "no arguments")
	}
	var in io.Reader = os.Stdin
	if p := c.String("input"); p != "" {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	} else if isTerminal(os.Stdin) {
		return errors.New("requested load from stdin, but stdin is empty")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	quiet := c.Bool("quiet") || !isTerminal(os.Stdout)
	rc, err := cl.ImageLoad(c.Context, in, quiet)
	if err != nil {
		return err
	}
	defer rc.Close()
	return display(rc)
}

// display draws a JSON message stream on stdout: bars on a terminal,
// plain lines otherwise.
func display(r io.Reader) error {
	return progress.Display(r, os.Stdout, isTerminal(os.Stdout))
}

var importCommand = &cli.Command{
	Name:      "import",
	Usage:     "Import the contents from a tarball to create a filesystem image",
	ArgsUsage: "file|URL|- [REPOSITORY[:TAG]]",
	Flags: []cli.Flag{
		&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply Dockerfile instruction to the created image"},
		&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "set commit message for imported image"},
		&cli.StringFlag{Name: "platform", Usage: "set platform if server is multi-platform capable"},
	},
	Action: runImport,
}

func runImport(c *cli.Context) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return argsError(c, "at least 1 and at most 2 arguments")
	}
	src := c.Args().Get(0)
	var in io.Reader = os.Stdin
	sourceURL := ""
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		sourceURL, in = src, nil
	} else if src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	rc, err := cl.ImageImport(c.Context, in, client.ImportOptions{
		SourceURL: sourceURL, Ref: c.Args().Get(1), Message: c.String("message"),
		Changes: c.StringSlice("change"), Platform: c.String("platform"),
	})
	if err != nil {
		return err
	}
	defer rc.Close()
	return client.ReadMessages(rc, func(m types.JSONMessage) {
		if m.Status != "" {
			fmt.Println(m.Status)
		}
	})
}
