package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

func networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "Manage networks",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "Create a network", ArgsUsage: "NETWORK",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "bridge", Usage: "driver to manage the network"},
					&cli.StringSliceFlag{Name: "subnet", Usage: "subnet in CIDR format that represents a network segment"},
					&cli.StringSliceFlag{Name: "gateway", Usage: "IPv4 or IPv6 gateway for the master subnet"},
					&cli.StringSliceFlag{Name: "ip-range", Usage: "allocate container IPs from a sub-range"},
					&cli.BoolFlag{Name: "internal", Usage: "restrict external access to the network"},
					&cli.BoolFlag{Name: "attachable", Usage: "enable manual container attachment"},
					&cli.BoolFlag{Name: "ipv6", Usage: "enable IPv6 networking"},
					&cli.StringSliceFlag{Name: "label", Usage: "set metadata on a network"},
					&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "set driver specific options"},
				},
				Action: runNetworkCreate,
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "List networks",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "provide filter values (e.g. 'driver=bridge')"},
					&cli.StringFlag{Name: "format", Usage: "pretty-print networks using a Go template, 'table', 'table TEMPLATE' or 'json'"},
					&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate the output"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display network IDs"},
				},
				Action: runNetworkList,
			},
			{
				Name: "inspect", Usage: "Display detailed information on one or more networks", ArgsUsage: "NETWORK [NETWORK...]",
				Flags: []cli.Flag{
					formatFlag(),
					&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "verbose output for diagnostics (no more than the default here)"},
				},
				Action: func(c *cli.Context) error { return inspectAs(c, "network") },
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "Remove one or more networks", ArgsUsage: "NETWORK [NETWORK...]",
				Action: func(c *cli.Context) error {
					return withEach(c, func(cl *client.Client, name string) error {
						err := cl.NetworkRemove(c.Context, name)
						if errdefs.IsNotFound(err) {
							return errors.New("Error: No such network: " + name)
						}
						return err
					})
				},
			},
			{
				Name: "connect", Usage: "Connect a container to a network", ArgsUsage: "NETWORK CONTAINER",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "alias", Usage: "add network-scoped alias for the container"},
					&cli.StringFlag{Name: "ip", Usage: "IPv4 address (e.g., 172.30.100.104)"},
				},
				Action: runNetworkConnect,
			},
			{
				Name: "disconnect", Usage: "Disconnect a container from a network", ArgsUsage: "NETWORK CONTAINER",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force the container to disconnect from a network"}},
				Action: runNetworkDisconnect,
			},
			{
				Name: "prune", Usage: "Remove all unused networks",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "filter", Usage: "provide filter values (e.g. 'until=<timestamp>')"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
				},
				Action: runNetworkPrune,
			},
		},
	}
}

func runNetworkCreate(c *cli.Context) error {
	if err := exactArgs(c, 1); err != nil {
		return err
	}
	req, err := networkCreateRequest(c.Args().First(), c.String("driver"), c.StringSlice("subnet"),
		c.StringSlice("gateway"), c.StringSlice("ip-range"), c.StringSlice("label"), c.StringSlice("opt"))
	if err != nil {
		return err
	}
	req.Internal, req.Attachable, req.EnableIPv6 = c.Bool("internal"), c.Bool("attachable"), c.Bool("ipv6")
	cl, err := connect(c)
	if err != nil {
		return err
	}
	resp, err := cl.NetworkCreate(c.Context, req)
	if err != nil {
		return errors.New(daemonError(err))
	}
	if resp.Warning != "" {
		fmt.Fprintln(os.Stderr, resp.Warning)
	}
	fmt.Println(resp.ID)
	return nil
}

// networkCreateRequest checks network create's flags and builds the
// request.
func networkCreateRequest(name, driver string, subnets, gateways, ranges, labels, opts []string) (types.NetworkCreateRequest, error) {
	req := types.NetworkCreateRequest{Name: name, Driver: driver, CheckDuplicate: true}
	var err error
	if req.Labels, err = keyValues("label", labels, false); err != nil {
		return req, err
	}
	if req.Options, err = keyValues("opt", opts, true); err != nil {
		return req, err
	}
	ipam, err := ipamConfig(subnets, gateways, ranges)
	if err != nil {
		return req, err
	}
	req.IPAM = &types.IPAM{Driver: "default", Config: ipam}
	return req, nil
}

// ipamConfig pairs each --gateway and --ip-range with the --subnet that
// holds it, as Docker's CLI does: at most one of each per subnet.
func ipamConfig(subnets, gateways, ranges []string) ([]types.IPAMConfig, error) {
	if len(subnets) < len(ranges) || len(subnets) < len(gateways) {
		return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	nets := make([]*net.IPNet, len(subnets))
	cfg := make([]types.IPAMConfig, len(subnets))
	for i, s := range subnets {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet %s: it must be in CIDR format", s)
		}
		for j := 0; j < i; j++ {
			if nets[j].Contains(n.IP) || n.Contains(nets[j].IP) {
				return nil, errors.New("multiple overlapping subnet configuration is not supported")
			}
		}
		nets[i] = n
		cfg[i].Subnet = s
	}
	for _, r := range ranges {
		ip, rn, err := net.ParseCIDR(r)
		if err != nil {
			return nil, fmt.Errorf("invalid ip-range %s: it must be in CIDR format", r)
		}
		i := holder(nets, ip)
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
		if cfg[i].IPRange != "" {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, cfg[i].IPRange, subnets[i])
		}
		if ones, _ := rn.Mask.Size(); ones < maskOnes(nets[i]) {
			return nil, fmt.Errorf("ip-range %s is larger than its subnet %s", r, subnets[i])
		}
		cfg[i].IPRange = r
	}
	for _, g := range gateways {
		ip := net.ParseIP(g)
		if ip == nil {
			return nil, fmt.Errorf("invalid gateway %s: it must be an IP address", g)
		}
		i := holder(nets, ip)
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
		if cfg[i].Gateway != "" {
			return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, cfg[i].Gateway, subnets[i])
		}
		cfg[i].Gateway = g
	}
	return cfg, nil
}

// holder is the index of the network holding ip, or -1.
func holder(nets []*net.IPNet, ip net.IP) int {
	for i, n := range nets {
		if n.Contains(ip) {
			return i
		}
	}
	return -1
}

func maskOnes(n *net.IPNet) int {
	ones, _ := n.Mask.Size()
	return ones
}

// keyValues reads --label/--opt values "k=v" (and, unless needValue,
// "k" for an empty value).
func keyValues(flag string, values []string, needValue bool) (map[string]string, error) {
	m := map[string]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if k == "" || (needValue && !ok) {
			return nil, usagef("invalid argument %q for \"--%s\" flag: want key=value", v, flag)
		}
		m[k] = val
	}
	return m, nil
}

// networkRow is one line of network ls.
type networkRow struct {
	ID, Name, Driver, Scope, IPv6, Internal, Labels, CreatedAt string

	labelled
}

var networkHeader = networkRow{
	ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv6: "IPV6", Internal: "INTERNAL",
	Labels: "LABELS", CreatedAt: "CREATED", labelled: labelled{header: true},
}

func networkRowOf(n types.NetworkResource, trunc bool) networkRow {
	r := networkRow{
		ID: n.ID, Name: n.Name, Driver: n.Driver, Scope: n.Scope,
		IPv6: strconv.FormatBool(n.EnableIPv6), Internal: strconv.FormatBool(n.Internal),
		Labels: joinLabels(n.Labels), CreatedAt: n.Created.String(), labelled: labelled{labels: n.Labels},
	}
	if trunc {
		r.ID = shortID(r.ID)
	}
	return r
}

// joinLabels is a LABELS column: "a=1,b=2", sorted.
func joinLabels(labels map[string]string) string {
	var out []string
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func runNetworkList(c *cli.Context) error {
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
	list, err := cl.NetworkList(c.Context, f)
	if err != nil {
		return errors.New(daemonError(err))
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	rows := make([]any, 0, len(list))
	for _, n := range list {
		r := networkRowOf(n, !c.Bool("no-trunc"))
		if c.Bool("quiet") {
			fmt.Println(r.ID)
			continue
		}
		rows = append(rows, r)
	}
	if c.Bool("quiet") {
		return nil
	}
	return table{format: c.String("format"), def: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
		headers: networkHeader}.write(os.Stdout, rows)
}

func runNetworkConnect(c *cli.Context) error {
	if err := exactArgs(c, 2); err != nil {
		return err
	}
	var ep *types.EndpointSettings
	if aliases, ip := c.StringSlice("alias"), c.String("ip"); len(aliases) > 0 || ip != "" {
		if ip != "" && net.ParseIP(ip).To4() == nil {
			return usagef("invalid argument %q for \"--ip\" flag: want an IPv4 address", ip)
		}
		ep = &types.EndpointSettings{Aliases: aliases}
		if ip != "" {
			ep.IPAMConfig = &types.EndpointIPAMConfig{IPv4Address: ip}
		}
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	if err := cl.NetworkConnect(c.Context, c.Args().Get(0), c.Args().Get(1), ep); err != nil {
		return errors.New(daemonError(err))
	}
	return nil
}

func runNetworkDisconnect(c *cli.Context) error {
	if err := exactArgs(c, 2); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	if err := cl.NetworkDisconnect(c.Context, c.Args().Get(0), c.Args().Get(1), c.Bool("force")); err != nil {
		return errors.New(daemonError(err))
	}
	return nil
}

func runNetworkPrune(c *cli.Context) error {
	cl, f, err := pruneStart(c, "WARNING! This will remove all custom networks not used by at least one container.")
	if cl == nil || err != nil {
		return err
	}
	rep, err := cl.NetworksPrune(c.Context, f)
	if err != nil {
		return errors.New(daemonError(err))
	}
	printPruned("Deleted Networks:", rep.NetworksDeleted, 0, false)
	return nil
}
