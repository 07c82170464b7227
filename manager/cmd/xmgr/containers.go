package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// manageCommands are the other container commands and the container,
// network and volume groups. Each call makes new command values: a
// command has one parent, and tests may change one.
func manageCommands() []*cli.Command {
	return append(append([]*cli.Command{newPsCommand("ps")}, containerCommands()...),
		containerCommand(), networkCommand(), volumeCommand())
}

// containerCommands are the container commands that are both top-level
// and under `container`.
func containerCommands() []*cli.Command {
	return []*cli.Command{
		stopCommand(), restartCommand(), killCommand(), rmCommand(), waitCommand(), topCommand(), portCommand(),
		pauseCommand(), unpauseCommand(), renameCommand(), updateCommand(), exportCommand(), commitCommand(),
		diffCommand(), cpCommand(), statsCommand(),
	}
}

// containerCommand is `container`: every container command under one
// group, as `docker container`, with ls/list for ps and inspect limited to
// containers.
func containerCommand() *cli.Command {
	subs := []*cli.Command{
		newPsCommand("ls", "ps", "list"),
		{
			Name: "inspect", Usage: "Display detailed information on one or more containers",
			ArgsUsage: "CONTAINER [CONTAINER...]",
			Flags:     []cli.Flag{formatFlag(), sizeFlag()},
			Action:    func(c *cli.Context) error { return inspectAs(c, "container") },
		},
		containerPruneCommand(),
	}
	for _, cmd := range containerCommands() {
		if cmd.Name == "rm" {
			cmd.Aliases = []string{"remove"}
		}
		subs = append(subs, cmd)
	}
	for _, cmd := range runCommands() {
		// A copy: run.go's commands may be shared values.
		sub := *cmd
		subs = append(subs, &sub)
	}
	return &cli.Command{Name: "container", Usage: "Manage containers", Subcommands: subs}
}

// eachName runs fn on every argument as Docker's multi-container commands
// do: the name printed on success, every failure reported at the end (the
// command then fails).
func eachName(c *cli.Context, fn func(name string) error) error {
	var failed []string
	for _, name := range c.Args().Slice() {
		if err := fn(name); err != nil {
			failed = append(failed, daemonError(err))
			continue
		}
		fmt.Println(name)
	}
	if len(failed) > 0 {
		return errorList(failed)
	}
	return nil
}

// daemonError words an error as Docker's CLI does: what the daemon
// refused starts with "Error response from daemon: ".
func daemonError(err error) string {
	var de *client.Error
	if errors.As(err, &de) {
		return "Error response from daemon: " + de.Message
	}
	return err.Error()
}

// timeoutFlag is stop's and restart's -t: nil when not given, so that the
// daemon uses the container's StopTimeout.
func timeoutFlag(c *cli.Context) *int {
	if !c.IsSet("time") {
		return nil
	}
	t := c.Int("time")
	return &t
}

func timeFlag() cli.Flag {
	return &cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait for stop before killing it"}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name: "stop", Usage: "Stop one or more running containers", ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{timeFlag()},
		Action: func(c *cli.Context) error {
			return withEach(c, func(cl *client.Client, name string) error {
				return cl.ContainerStop(c.Context, name, timeoutFlag(c))
			})
		},
	}
}

func restartCommand() *cli.Command {
	return &cli.Command{
		Name: "restart", Usage: "Restart one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{timeFlag()},
		Action: func(c *cli.Context) error {
			return withEach(c, func(cl *client.Client, name string) error {
				return cl.ContainerRestart(c.Context, name, timeoutFlag(c))
			})
		},
	}
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name: "kill", Usage: "Kill one or more running containers", ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal to send to the container"}},
		Action: func(c *cli.Context) error {
			return withEach(c, func(cl *client.Client, name string) error {
				return cl.ContainerKill(c.Context, name, c.String("signal"))
			})
		},
	}
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name: "rm", Usage: "Remove one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force the removal of a running container (uses SIGKILL)"},
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove anonymous volumes associated with the container"},
			&cli.BoolFlag{Name: "link", Aliases: []string{"l"}, Usage: "remove the specified link (not supported)"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("link") {
				return usagef("xmgr has no container links: --link is not supported")
			}
			return withEach(c, func(cl *client.Client, name string) error {
				name = strings.Trim(name, "/")
				if name == "" {
					return errors.New("Container name cannot be empty")
				}
				err := cl.ContainerRemove(c.Context, name, c.Bool("force"), c.Bool("volumes"))
				if errdefs.IsNotFound(err) {
					// Docker's words for rm of a missing container.
					return errors.New("Error: No such container: " + name)
				}
				return err
			})
		},
	}
}

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name: "pause", Usage: "Pause all processes within one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
		Action: func(c *cli.Context) error {
			return withEach(c, func(cl *client.Client, name string) error { return cl.ContainerPause(c.Context, name) })
		},
	}
}

func unpauseCommand() *cli.Command {
	return &cli.Command{
		Name: "unpause", Usage: "Unpause all processes within one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
		Action: func(c *cli.Context) error {
			return withEach(c, func(cl *client.Client, name string) error { return cl.ContainerUnpause(c.Context, name) })
		},
	}
}

// withEach connects and runs fn on each argument (at least one) through
// eachName.
func withEach(c *cli.Context, fn func(cl *client.Client, name string) error) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	return eachName(c, func(name string) error { return fn(cl, name) })
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name: "wait", Usage: "Block until one or more containers stop, then print their exit codes",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Action:    runWait,
	}
}

func runWait(c *cli.Context) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	var failed []string
	for _, name := range c.Args().Slice() {
		result, errc := cl.ContainerWait(c.Context, name, "")
		select {
		case r := <-result:
			fmt.Println(r.StatusCode)
		case err := <-errc:
			failed = append(failed, daemonError(err))
		}
	}
	if len(failed) > 0 {
		return errorList(failed)
	}
	return nil
}

func topCommand() *cli.Command {
	return &cli.Command{
		Name: "top", Usage: "Display the running processes of a container", ArgsUsage: "CONTAINER [ps OPTIONS]",
		Action: runTop,
	}
}

func runTop(c *cli.Context) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	top, err := cl.ContainerTop(c.Context, c.Args().First(), strings.Join(c.Args().Tail(), " "))
	if err != nil {
		return errors.New(daemonError(err))
	}
	return writeTop(os.Stdout, top)
}

// writeTop prints ps's output as Docker does: tab-aligned columns.
func writeTop(out io.Writer, top types.ContainerTopResponse) error {
	w := tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
	fmt.Fprintln(w, strings.Join(top.Titles, "\t"))
	for _, p := range top.Processes {
		fmt.Fprintln(w, strings.Join(p, "\t"))
	}
	return w.Flush()
}

func portCommand() *cli.Command {
	return &cli.Command{
		Name: "port", Usage: "List port mappings or a specific mapping for the container",
		ArgsUsage: "CONTAINER [PRIVATE_PORT[/PROTO]]",
		Action:    runPort,
	}
}

func runPort(c *cli.Context) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return argsError(c, "at least 1 and at most 2 arguments")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	ctr, _, err := cl.ContainerInspect(c.Context, name, false)
	if err != nil {
		return errors.New(daemonError(err))
	}
	var ports types.PortMap
	if ctr.NetworkSettings != nil {
		ports = ctr.NetworkSettings.Ports
	}
	lines, err := portLines(ports, c.Args().Get(1))
	if err != nil {
		return fmt.Errorf("%w for %s", err, name)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

// portLines is port's output: every published port as "80/tcp ->
// 0.0.0.0:8080", or, for one private port ("80", "53/udp"), just its host
// addresses.
func portLines(ports types.PortMap, private string) ([]string, error) {
	if private != "" {
		num, proto, _ := strings.Cut(private, "/")
		if proto == "" {
			proto = "tcp"
		}
		if _, err := strconv.ParseUint(num, 10, 16); err != nil {
			return nil, fmt.Errorf("Error: invalid port (%s): want PRIVATE_PORT[/PROTO]", private)
		}
		key := num + "/" + proto
		var out []string
		for _, b := range ports[key] {
			out = append(out, hostAddr(b))
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("Error: No public port '%s' published", key)
		}
		return out, nil
	}
	keys := make([]string, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ni, pi, _ := strings.Cut(keys[i], "/")
		nj, pj, _ := strings.Cut(keys[j], "/")
		a, _ := strconv.Atoi(ni)
		b, _ := strconv.Atoi(nj)
		if a != b {
			return a < b
		}
		return pi < pj
	})
	var out []string
	for _, k := range keys {
		for _, b := range ports[k] {
			out = append(out, k+" -> "+hostAddr(b))
		}
	}
	return out, nil
}

// hostAddr is "0.0.0.0:8080" or "[::]:8080".
func hostAddr(b types.PortBinding) string {
	if strings.Contains(b.HostIP, ":") {
		return "[" + b.HostIP + "]:" + b.HostPort
	}
	return b.HostIP + ":" + b.HostPort
}

func renameCommand() *cli.Command {
	return &cli.Command{
		Name: "rename", Usage: "Rename a container", ArgsUsage: "CONTAINER NEW_NAME",
		Action: func(c *cli.Context) error {
			if err := exactArgs(c, 2); err != nil {
				return err
			}
			old, name := strings.TrimSpace(c.Args().Get(0)), strings.TrimSpace(c.Args().Get(1))
			if old == "" || name == "" {
				return errors.New("Error: Neither old nor new names may be empty")
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			if err := cl.ContainerRename(c.Context, old, name); err != nil {
				return fmt.Errorf("%s\nError: failed to rename container named %s", daemonError(err), old)
			}
			return nil
		},
	}
}

func updateCommand() *cli.Command {
	return &cli.Command{
		Name: "update", Usage: "Update configuration of one or more containers", ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
			&cli.StringFlag{Name: "cpus", Usage: "number of CPUs"},
			&cli.Int64Flag{Name: "pids-limit", Usage: "tune container pids limit (set -1 for unlimited)"},
			&cli.StringFlag{Name: "restart", Usage: "restart policy to apply when a container exits"},
		}, limitFlags()...),
		Action: runUpdate,
	}
}

func runUpdate(c *cli.Context) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	req, err := updateRequest(c)
	if err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	return eachName(c, func(name string) error {
		resp, err := cl.ContainerUpdate(c.Context, name, req)
		for _, w := range resp.Warnings {
			fmt.Fprintln(os.Stderr, w)
		}
		return err
	})
}

// updateRequest reads update's flags (run's parsers: the same units and
// checks); only the ones given change.
func updateRequest(c *cli.Context) (types.ContainerUpdateRequest, error) {
	var req types.ContainerUpdateRequest
	if c.NumFlags() == 0 {
		return req, errors.New("you must provide one or more flags when using this command")
	}
	if err := parseResources(c, &req.Resources); err != nil {
		return req, err
	}
	if c.IsSet("restart") {
		p, err := parseRestart(c.String("restart"))
		if err != nil {
			return req, err
		}
		req.RestartPolicy = p
	}
	return req, nil
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name: "export", Usage: "Export a container's filesystem as a tar archive", ArgsUsage: "CONTAINER",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a file, instead of STDOUT"}},
		Action: runExport,
	}
}

func runExport(c *cli.Context) error {
	if err := exactArgs(c, 1); err != nil {
		return err
	}
	path := c.String("output")
	if path == "" && isTerminal(os.Stdout) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	rc, err := cl.ContainerExport(c.Context, c.Args().First())
	if err != nil {
		return errors.New(daemonError(err))
	}
	defer rc.Close()
	return writeOutput(path, rc)
}

// writeOutput copies r to stdout, or to the file path (made whole or not
// at all: a failed copy removes it).
func writeOutput(path string, r io.Reader) error {
	if path == "" {
		_, err := io.Copy(os.Stdout, r)
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("failed to export container: %w", err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func commitCommand() *cli.Command {
	return &cli.Command{
		Name: "commit", Usage: "Create a new image from a container's changes", ArgsUsage: "CONTAINER [REPOSITORY[:TAG]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: `author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`},
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply Dockerfile instruction to the created image"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message"},
			&cli.BoolFlag{Name: "pause", Aliases: []string{"p"}, Value: true, Usage: "pause container during commit"},
		},
		Action: runCommit,
	}
}

func runCommit(c *cli.Context) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return argsError(c, "at least 1 and at most 2 arguments")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	id, err := cl.ContainerCommit(c.Context, c.Args().First(), client.CommitOptions{
		Reference: c.Args().Get(1),
		Comment:   c.String("message"),
		Author:    c.String("author"),
		Changes:   c.StringSlice("change"),
		Pause:     c.Bool("pause"),
	})
	if err != nil {
		return errors.New(daemonError(err))
	}
	fmt.Println(id)
	return nil
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name: "diff", Usage: "Inspect changes to files or directories on a container's filesystem", ArgsUsage: "CONTAINER",
		Action: func(c *cli.Context) error {
			if err := exactArgs(c, 1); err != nil {
				return err
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			changes, err := cl.ContainerChanges(c.Context, c.Args().First())
			if err != nil {
				return errors.New(daemonError(err))
			}
			for _, ch := range changes {
				fmt.Println(changeKind(ch.Kind) + " " + ch.Path)
			}
			return nil
		},
	}
}

// changeKind is diff's letter: C(hanged), A(dded), D(eleted).
func changeKind(k uint8) string {
	switch k {
	case types.ChangeAdd:
		return "A"
	case types.ChangeDelete:
		return "D"
	}
	return "C"
}

func containerPruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "Remove all stopped containers",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filter", Usage: "provide filter values (e.g. 'until=<timestamp>')"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
		},
		Action: func(c *cli.Context) error {
			cl, f, err := pruneStart(c, "WARNING! This will remove all stopped containers.")
			if cl == nil || err != nil {
				return err
			}
			rep, err := cl.ContainersPrune(c.Context, f)
			if err != nil {
				return errors.New(daemonError(err))
			}
			printPruned("Deleted Containers:", rep.ContainersDeleted, rep.SpaceReclaimed, true)
			return nil
		},
	}
}

// printPruned is a prune's report: what went and, with space, the bytes
// it freed.
func printPruned(title string, deleted []string, reclaimed uint64, space bool) {
	if len(deleted) > 0 {
		fmt.Println(title)
		for _, d := range deleted {
			fmt.Println(d)
		}
		fmt.Println()
	}
	if space {
		// Docker prints four significant digits here (units.HumanSize).
		fmt.Println("Total reclaimed space: " + units.HumanSize(float64(reclaimed)))
	}
}
