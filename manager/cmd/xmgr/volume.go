package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
)

func volumeCommand() *cli.Command {
	return &cli.Command{
		Name:  "volume",
		Usage: "Manage volumes",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "Create a volume", ArgsUsage: "[VOLUME]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "local", Usage: "specify volume driver name"},
					&cli.StringFlag{Name: "name", Usage: "specify volume name"},
					&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "set driver specific options"},
					&cli.StringSliceFlag{Name: "label", Usage: "set metadata for a volume"},
				},
				Action: runVolumeCreate,
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "List volumes",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "provide filter values (e.g. 'dangling=true')"},
					&cli.StringFlag{Name: "format", Usage: "pretty-print volumes using a Go template, 'table', 'table TEMPLATE' or 'json'"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display volume names"},
				},
				Action: runVolumeList,
			},
			{
				Name: "inspect", Usage: "Display detailed information on one or more volumes", ArgsUsage: "VOLUME [VOLUME...]",
				Flags:  []cli.Flag{formatFlag()},
				Action: func(c *cli.Context) error { return inspectAs(c, "volume") },
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "Remove one or more volumes", ArgsUsage: "VOLUME [VOLUME...]",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force the removal of one or more volumes"}},
				Action: func(c *cli.Context) error {
					return withEach(c, func(cl *client.Client, name string) error {
						return cl.VolumeRemove(c.Context, name, c.Bool("force"))
					})
				},
			},
			{
				Name: "prune", Usage: "Remove all unused local volumes",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "filter", Usage: "provide filter values (e.g. 'label=<label>')"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
				},
				Action: runVolumePrune,
			},
		},
	}
}

func runVolumeCreate(c *cli.Context) error {
	if c.NArg() > 1 {
		return argsError(c, "at most 1 argument")
	}
	name := c.String("name")
	if c.NArg() == 1 {
		if name != "" {
			return errors.New("conflicting options: either specify --name or provide positional arg, not both")
		}
		name = c.Args().First()
	}
	labels, err := keyValues("label", c.StringSlice("label"), false)
	if err != nil {
		return err
	}
	opts, err := keyValues("opt", c.StringSlice("opt"), true)
	if err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	v, err := cl.VolumeCreate(c.Context, types.VolumeCreateRequest{
		Name: name, Driver: c.String("driver"), DriverOpts: opts, Labels: labels,
	})
	if err != nil {
		return errors.New(daemonError(err))
	}
	fmt.Println(v.Name)
	return nil
}

// volumeRow is one line of volume ls.
type volumeRow struct {
	Name, Driver, Scope, Mountpoint, Labels, Links, Size, CreatedAt string

	labelled
}

var volumeHeader = volumeRow{
	Name: "VOLUME NAME", Driver: "DRIVER", Scope: "SCOPE", Mountpoint: "MOUNTPOINT", Labels: "LABELS",
	Links: "LINKS", Size: "SIZE", CreatedAt: "CREATED", labelled: labelled{header: true},
}

func volumeRowOf(v types.Volume) volumeRow {
	r := volumeRow{
		Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt,
		Labels: joinLabels(v.Labels), Links: "N/A", Size: "N/A", labelled: labelled{labels: v.Labels},
	}
	if u := v.UsageData; u != nil {
		if u.RefCount >= 0 {
			r.Links = strconv.FormatInt(u.RefCount, 10)
		}
		if u.Size >= 0 {
			r.Size = humanSize(u.Size)
		}
	}
	return r
}

func runVolumeList(c *cli.Context) error {
	if c.NArg() > 0 {
		return argsError(c, "no arguments")
	}
	f, err := parseFilterFlags(c.StringSlice("filter"))
	if err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	resp, err := cl.VolumeList(c.Context, f)
	if err != nil {
		return errors.New(daemonError(err))
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(os.Stderr, w)
	}
	vols := resp.Volumes
	sort.Slice(vols, func(i, j int) bool { return vols[i].Name < vols[j].Name })
	rows := make([]any, 0, len(vols))
	for _, v := range vols {
		if c.Bool("quiet") {
			fmt.Println(v.Name)
			continue
		}
		rows = append(rows, volumeRowOf(*v))
	}
	if c.Bool("quiet") {
		return nil
	}
	return table{format: c.String("format"), def: "table {{.Driver}}\t{{.Name}}", headers: volumeHeader}.write(os.Stdout, rows)
}

func runVolumePrune(c *cli.Context) error {
	cl, f, err := pruneStart(c, "WARNING! This will remove all local volumes not used by at least one container.")
	if cl == nil || err != nil {
		return err
	}
	rep, err := cl.VolumesPrune(c.Context, f)
	if err != nil {
		return errors.New(daemonError(err))
	}
	printPruned("Deleted Volumes:", rep.VolumesDeleted, rep.SpaceReclaimed, true)
	return nil
}
