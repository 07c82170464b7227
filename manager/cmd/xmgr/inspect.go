package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

var inspectFlags = []cli.Flag{
	&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format the output using the given Go template"},
	&cli.StringFlag{Name: "type", Usage: "return JSON for the specified type (image)"},
}

var inspectCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "Return low-level information on images",
	ArgsUsage: "NAME|ID [NAME|ID...]",
	Flags:     inspectFlags,
	Action:    runInspect,
}

// runInspect prints the images as a JSON array, or each through --format.
// Like docker it goes on past a missing name and fails at the end.
func runInspect(c *cli.Context) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	if t := c.String("type"); t != "" && t != "image" {
		return usagef("%q is not a valid value for --type (xmgr knows images only)", t)
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	var raws []json.RawMessage
	var failed []string
	for _, name := range c.Args().Slice() {
		_, raw, err := cl.ImageInspect(c.Context, name)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		raws = append(raws, raw)
	}
	if format := c.String("format"); format != "" {
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
	} else if err := writeIndentedJSON(os.Stdout, raws); err != nil {
		return err
	}
	if len(failed) > 0 {
		return errorList(failed)
	}
	return nil
}

type errorList []string

func (e errorList) Error() string { return strings.Join(e, "\nxmgr: ") }
