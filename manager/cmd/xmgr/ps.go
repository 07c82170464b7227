package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/reference"
)

var psFlags = []cli.Flag{
	&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers (default shows just running)"},
	&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions provided"},
	&cli.StringFlag{Name: "format", Usage: "pretty-print containers using a Go template, 'table', 'table TEMPLATE' or 'json'"},
	&cli.IntFlag{Name: "last", Aliases: []string{"n"}, Value: -1, Usage: "show n last created containers (includes all states)"},
	&cli.BoolFlag{Name: "latest", Aliases: []string{"l"}, Usage: "show the latest created container (includes all states)"},
	&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
	&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display container IDs"},
	&cli.BoolFlag{Name: "size", Aliases: []string{"s"}, Usage: "display total file sizes"},
}

func newPsCommand(name string, aliases ...string) *cli.Command {
	return &cli.Command{
		Name:    name,
		Aliases: aliases,
		Usage:   "List containers",
		Flags:   psFlags,
		Action:  runPs,
	}
}

const (
	psDefaultFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	psSizeColumn    = "\t{{.Size}}"
)

func runPs(c *cli.Context) error {
	if c.NArg() > 0 {
		return argsError(c, "no arguments")
	}
	f, err := parseFilterFlags(c.StringSlice("filter"))
	if err != nil {
		return err
	}
	format := c.String("format")
	opts := client.ContainerListOptions{
		All:     c.Bool("all"),
		Limit:   c.Int("last"),
		Size:    c.Bool("size") || strings.Contains(format, ".Size"),
		Filters: f,
	}
	if c.Bool("latest") {
		opts.Limit = 1
	}
	if opts.Limit > 0 {
		opts.All = true
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	list, err := cl.ContainerList(c.Context, opts)
	if err != nil {
		return err
	}
	trunc := !c.Bool("no-trunc")
	if c.Bool("quiet") {
		for _, s := range list {
			fmt.Println(containerRowOf(s, trunc).ID)
		}
		return nil
	}
	def := psDefaultFormat
	if c.Bool("size") {
		def += psSizeColumn
	}
	rows := make([]any, 0, len(list))
	for _, s := range list {
		rows = append(rows, containerRowOf(s, trunc))
	}
	return table{format: format, def: def, headers: containerHeader}.write(os.Stdout, rows)
}

// containerRow is one line of ps: the fields a --format template names.
// A header row holds the column titles instead (see containerHeader).
type containerRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Ports, State, Status string
	Size, Names, Labels, Mounts, Networks, LocalVolumes             string

	labelled
}

// Label is {{.Label "name"}}: the value of one label.
func (r containerRow) Label(name string) string {
	if r.header {
		return "LABEL"
	}
	return r.labels[name]
}

// containerHeader is ps's header line, run through the same template.
var containerHeader = containerRow{
	ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED",
	Ports: "PORTS", State: "STATE", Status: "STATUS", Size: "SIZE", Names: "NAMES", Labels: "LABELS",
	Mounts: "MOUNTS", Networks: "NETWORKS", LocalVolumes: "LOCAL VOLUMES", labelled: labelled{header: true},
}

// containerRowOf formats one container as Docker's ps does; trunc is
// the default (no --no-trunc).
func containerRowOf(s types.ContainerSummary, trunc bool) containerRow {
	created := time.Unix(s.Created, 0)
	r := containerRow{
		ID:         s.ID,
		Image:      psImage(s, trunc),
		Command:    s.Command,
		CreatedAt:  created.String(),
		RunningFor: since(created),
		Ports:      displayPorts(s.Ports),
		State:      s.State,
		Status:     s.Status,
		Names:      psNames(s.Names, trunc),
		labelled:   labelled{labels: s.Labels},
	}
	if trunc {
		r.ID = shortID(s.ID)
		r.Command = ellipsis(r.Command, 20)
	}
	r.Command = strconv.Quote(r.Command)

	r.Size = units.HumanSizeWithPrecision(float64(s.SizeRw), 3)
	if s.SizeRootFs > 0 {
		r.Size += " (virtual " + units.HumanSizeWithPrecision(float64(s.SizeRootFs), 3) + ")"
	}

	var labels []string
	for k, v := range s.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	r.Labels = strings.Join(labels, ",")

	var mounts []string
	local := 0
	for _, m := range s.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		if trunc {
			name = ellipsis(name, 15)
		}
		mounts = append(mounts, name)
		if m.Driver == "local" {
			local++
		}
	}
	r.Mounts = strings.Join(mounts, ",")
	r.LocalVolumes = strconv.Itoa(local)

	if s.NetworkSettings != nil {
		var nets []string
		for n := range s.NetworkSettings.Networks {
			nets = append(nets, n)
		}
		sort.Strings(nets)
		r.Networks = strings.Join(nets, ",")
	}
	return r
}

// psNames drops the leading slash; truncated, it shows the container's
// own name only (not the link names "other/alias").
func psNames(names []string, trunc bool) string {
	var out []string
	for _, n := range names {
		out = append(out, strings.TrimPrefix(n, "/"))
	}
	if trunc {
		for _, n := range out {
			if !strings.Contains(n, "/") {
				return n
			}
		}
	}
	return strings.Join(out, ",")
}

// psImage is the IMAGE column: the image as the container was created
// from it, a short ID when that was an ID, and without the digest of a
// "name@sha256:..." unless --no-trunc.
func psImage(s types.ContainerSummary, trunc bool) string {
	if s.Image == "" {
		return "<no image>"
	}
	if !trunc {
		return s.Image
	}
	if shortID(s.Image) == shortID(s.ImageID) {
		return shortID(s.ImageID)
	}
	n, err := reference.ParseNamed(s.Image)
	if err != nil {
		return s.Image
	}
	if n.Tag != "" {
		return n.WithTag(n.Tag).Familiar()
	}
	return n.FamiliarName()
}

// displayPorts is ps's PORTS column as Docker 20.10 writes it: runs of
// consecutive ports on the same address grouped ("0.0.0.0:8000-8001->8000-8001/tcp"),
// unpublished ports as "80/tcp", and a host port that differs from the
// container's as its own "0.0.0.0:3000->80/tcp", after the groups.
func displayPorts(ports []types.Port) string {
	sorted := append([]types.Port(nil), ports...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		switch {
		case a.PrivatePort != b.PrivatePort:
			return a.PrivatePort < b.PrivatePort
		case a.IP != b.IP:
			return a.IP < b.IP
		case a.PublicPort != b.PublicPort:
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	var (
		groups   []string
		mappings []string
		open     = map[string]*portRun{} // by ip/proto
		order    []string                // keys of open, as first seen
	)
	for _, p := range sorted {
		if p.IP != "" && p.PublicPort != p.PrivatePort {
			mappings = append(mappings, fmt.Sprintf("%s:%d->%d/%s", p.IP, p.PublicPort, p.PrivatePort, p.Type))
			continue
		}
		key := p.IP + "/" + p.Type
		g := open[key]
		if g == nil {
			open[key] = &portRun{ip: p.IP, proto: p.Type, first: p.PrivatePort, last: p.PrivatePort}
			order = append(order, key)
			continue
		}
		if p.PrivatePort == g.last+1 {
			g.last = p.PrivatePort
			continue
		}
		groups = append(groups, g.String())
		open[key] = &portRun{ip: p.IP, proto: p.Type, first: p.PrivatePort, last: p.PrivatePort}
	}
	for _, k := range order {
		groups = append(groups, open[k].String())
	}
	return strings.Join(append(groups, mappings...), ", ")
}

// portRun is a run of consecutive container ports on one address.
type portRun struct {
	ip, proto   string
	first, last uint16
}

// String is "80/tcp", "8000-8001/tcp" or "0.0.0.0:80->80/tcp".
func (g *portRun) String() string {
	ports := strconv.Itoa(int(g.first))
	if g.last != g.first {
		ports += "-" + strconv.Itoa(int(g.last))
	}
	if g.ip != "" {
		ports = g.ip + ":" + ports + "->" + ports
	}
	return ports + "/" + g.proto
}
