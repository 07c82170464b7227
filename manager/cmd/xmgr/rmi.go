package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
)

var rmiFlags = []cli.Flag{
	&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force removal of the image"},
	&cli.BoolFlag{Name: "no-prune", Usage: "do not delete untagged parents"},
}

var rmiCommand = &cli.Command{
	Name:      "rmi",
	Usage:     "Remove one or more images",
	ArgsUsage: "IMAGE [IMAGE...]",
	Flags:     rmiFlags,
	Action:    runRmi,
}

// runRmi removes each image in turn; like docker it goes on after a
// failure and reports all failures at the end.
func runRmi(c *cli.Context) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	var failed []string
	for _, name := range c.Args().Slice() {
		items, err := cl.ImageRemove(c.Context, name, c.Bool("force"), c.Bool("no-prune"))
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		printDeleted(items, "Untagged: ", "Deleted: ")
	}
	if len(failed) > 0 {
		return errorList(failed)
	}
	return nil
}

func printDeleted(items []types.ImageDeleteResponseItem, untagged, deleted string) {
	for _, it := range items {
		if it.Untagged != "" {
			fmt.Println(untagged + it.Untagged)
		}
		if it.Deleted != "" {
			fmt.Println(deleted + it.Deleted)
		}
	}
}

var imagePruneCommand = &cli.Command{
	Name:  "prune",
	Usage: "Remove unused images",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all unused images, not just dangling ones"},
		&cli.StringSliceFlag{Name: "filter", Usage: "provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
	},
	Action: runImagePrune,
}

func runImagePrune(c *cli.Context) error {
	warning, dangling := "WARNING! This will remove all dangling images.", "true"
	if c.Bool("all") {
		warning, dangling = "WARNING! This will remove all images without at least one container associated to them.", "false"
	}
	cl, f, err := pruneStart(c, warning)
	if cl == nil || err != nil {
		return err
	}
	f.Add("dangling", dangling)
	rep, err := cl.ImagesPrune(c.Context, f)
	if err != nil {
		return err
	}
	if len(rep.ImagesDeleted) > 0 {
		fmt.Println("Deleted Images:")
		printDeleted(rep.ImagesDeleted, "untagged: ", "deleted: ")
		fmt.Println()
	}
	fmt.Println("Total reclaimed space: " + humanSize(int64(rep.SpaceReclaimed)))
	return nil
}

// pruneStart begins a prune: it reads --filter, asks Docker's question
// unless --force, and connects. The client is nil when the answer is no.
func pruneStart(c *cli.Context, warning string) (*client.Client, types.Filters, error) {
	f, err := parseFilterFlags(c.StringSlice("filter"))
	if err != nil {
		return nil, f, err
	}
	if !c.Bool("force") && !confirm(warning) {
		return nil, f, nil
	}
	cl, err := connect(c)
	return cl, f, err
}

// confirm asks Docker's question on stderr and reads the answer.
func confirm(warning string) bool {
	fmt.Fprint(os.Stderr, warning+"\nAre you sure you want to continue? [y/N] ")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
