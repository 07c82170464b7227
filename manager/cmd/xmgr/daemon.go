package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/daemon"
)

var daemonCommand = &cli.Command{
	Name:  "daemon",
	Usage: "Run the xmgr daemon (serves the Docker Engine API)",
	Flags: []cli.Flag{
		&cli.StringSliceFlag{Name: "host", Aliases: []string{"H"}, Usage: "socket(s) to listen on: unix:///path, tcp://host:port, fd:// (default unix:///run/xmgr/xmgr.sock)"},
		&cli.StringFlag{Name: "data-root", Value: daemon.DefaultDataRoot, Usage: "root directory of persistent state"},
		&cli.StringFlag{Name: "exec-root", Value: daemon.DefaultExecRoot, Usage: "root directory for execution state files (pid file, socket, log)"},
		&cli.StringFlag{Name: "storage-driver", Aliases: []string{"s"}, Value: daemon.DefaultDriver, Usage: "storage driver: overlay2 or native"},
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "registry (host[:port]) to reach over plain HTTP"},
		&cli.StringFlag{Name: "bip", Usage: "address and prefix of the default bridge (172.26.0.1/16), or its subnet (default 10.210.0.0/16)"},
		&cli.StringFlag{Name: "bridge", Aliases: []string{"b"}, Usage: "Linux bridge device of the default network (default xmgr0)"},
		&cli.StringFlag{Name: "default-runtime", Usage: "OCI runtime of containers: a path or a name in PATH (default xrt beside xrt-shim)"},
		&cli.StringFlag{Name: "group", Aliases: []string{"G"}, Usage: "group that owns the unix socket (default root)"},
		&cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "enable debug logging"},
		&cli.StringFlag{Name: "log-level", Aliases: []string{"l"}, Value: "info", Usage: "log level: debug, info, warn, error"},
	},
	Action: runDaemon,
}

func runDaemon(c *cli.Context) error {
	if c.NArg() > 0 {
		return argsError(c, "no arguments")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return usagef("invalid --log-level %q", c.String("log-level"))
	}
	debug := false
	for _, x := range c.Lineage() { // -D before or after `daemon`
		if x != nil && x.Bool("debug") {
			debug = true
		}
	}
	if debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hosts := c.StringSlice("host")
	cfg := daemon.Config{
		Hosts: hosts, DataRoot: c.String("data-root"), ExecRoot: c.String("exec-root"),
		StorageDriver: c.String("storage-driver"), InsecureRegistries: c.StringSlice("insecure-registry"),
		Group: c.String("group"), Debug: debug, Version: version, Runtime: c.String("default-runtime"),
		BridgeSubnet: c.String("bip"), BridgeDevice: c.String("bridge"),
	}
	d, err := daemon.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.Serve(ctx)
}
