package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

var saveCommand = &cli.Command{
	Name:      "save",
	Usage:     "Save one or more images to a tar archive (streamed to STDOUT by default)",
	ArgsUsage: "IMAGE [IMAGE...]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a file, instead of STDOUT"},
		&cli.StringFlag{Name: "format", Value: "docker", Usage: "archive format: docker (docker save's) or oci (an OCI image layout)"},
	},
	Action: runSave,
}

func runSave(c *cli.Context) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	format := c.String("format")
	if format != "docker" && format != "oci" {
		return usagef("invalid --format %q: want docker or oci", format)
	}
	out := c.String("output")
	if out == "" && isTerminal(os.Stdout) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	rc, err := cl.ImageSave(c.Context, c.Args().Slice(), format)
	if err != nil {
		return err
	}
	defer rc.Close()
	if out == "" {
		if _, err := io.Copy(os.Stdout, rc); err != nil {
			return fmt.Errorf("saving: %w", err)
		}
		return nil
	}
	return writeFileAtomic(out, rc)
}

// writeFileAtomic writes r to a temporary file beside path and renames it
// into place, so that a failed save leaves no partial archive.
func writeFileAtomic(path string, r io.Reader) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".xmgr-save-*")
	if err != nil {
		return fmt.Errorf("failed to save: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("failed to save %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to save %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to save %s: %w", path, err)
	}
	ok = true
	return nil
}
