package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format the output using the given Go template"}
}

func sizeFlag() cli.Flag {
	return &cli.BoolFlag{Name: "size", Aliases: []string{"s"}, Usage: "display total file sizes if the type is container"}
}

var inspectCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "Return low-level information on Docker objects",
	ArgsUsage: "NAME|ID [NAME|ID...]",
	Flags: []cli.Flag{
		formatFlag(),
		&cli.StringFlag{Name: "type", Usage: "return JSON for the specified type (container, image, network, volume)"},
		sizeFlag(),
	},
	Action: runInspect,
}

// runInspect is `inspect`, and `image inspect` (system.go reuses this
// command under the image group): there the type is image.
func runInspect(c *cli.Context) error {
	typ := c.String("type")
	if typ == "" {
		if l := c.Lineage(); len(l) > 1 && l[1].Command != nil && l[1].Command.Name == "image" {
			typ = "image"
		}
	}
	return inspectAs(c, typ)
}

// inspectTypes are the kinds of object inspect looks a name up as, in
// Docker's order when no --type is given.
var inspectTypes = []string{"container", "image", "network", "volume"}

// inspectAs prints the objects of kind typ ("" for whichever kind a name
// is, in inspectTypes' order) as a JSON array, or each through --format.
// Like docker it goes on past a missing name and fails at the end.
func inspectAs(c *cli.Context, typ string) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	if typ != "" && !slices.Contains(inspectTypes, typ) {
		return usagef("%q is not a valid value for --type", typ)
	}
	tmpl := c.String("format")
	if tmpl != "" {
		if _, err := parseTemplate(tmpl); err != nil {
			return usagef("%v", err)
		}
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	size := c.Bool("size")
	var raws []json.RawMessage
	var failed []string
	for _, name := range c.Args().Slice() {
		raw, err := inspectOne(c.Context, cl, typ, name, size)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		raws = append(raws, raw)
	}
	if err := writeInspect(raws, tmpl); err != nil {
		return err
	}
	if len(failed) > 0 {
		return errorList(failed)
	}
	return nil
}

// inspectOne fetches name as typ, or as the first kind that knows it.
func inspectOne(ctx context.Context, cl *client.Client, typ, name string, size bool) (json.RawMessage, error) {
	kinds := inspectTypes
	if typ != "" {
		kinds = []string{typ}
	}
	for _, k := range kinds {
		var raw []byte
		var err error
		switch k {
		case "container":
			_, raw, err = cl.ContainerInspect(ctx, name, size)
		case "image":
			_, raw, err = cl.ImageInspect(ctx, name)
		case "network":
			_, raw, err = cl.NetworkInspect(ctx, name)
		case "volume":
			_, raw, err = cl.VolumeInspect(ctx, name)
		}
		switch {
		case err == nil:
			return raw, nil
		case !errdefs.IsNotFound(err):
			return nil, errors.New(daemonError(err))
		case typ != "":
			return nil, errors.New("Error: No such " + typ + ": " + name)
		}
	}
	return nil, errors.New("Error: No such object: " + name)
}

// writeInspect prints the objects as one indented JSON array, or each
// through the --format template.
func writeInspect(raws []json.RawMessage, format string) error {
	if format == "" {
		return writeIndentedJSON(os.Stdout, raws)
	}
	tmpl, err := parseTemplate(strings.ReplaceAll(format, `\t`, "\t") + "\n")
	if err != nil {
		return err
	}
	for _, raw := range raws {
		data, err := templateData(raw)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, data); err != nil {
			return usagef("template: %v", err)
		}
		os.Stdout.Write(b.Bytes())
	}
	return nil
}

type errorList []string

func (e errorList) Error() string { return strings.Join(e, "\nxmgr: ") }
