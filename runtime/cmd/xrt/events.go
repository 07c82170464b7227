package main

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/container"
)

const defaultEventsInterval = 5 * time.Second

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource usage and OOM events as JSON lines, until it stops",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "stats", Usage: "print the usage once and exit"},
		&cli.DurationFlag{Name: "interval", Value: defaultEventsInterval, Usage: "time between two stats events"},
	},
	Action: func(ctx *cli.Context) error {
		c, err := load(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		emit := func(e container.Event) error { return enc.Encode(e) }
		if ctx.Bool("stats") {
			s, err := c.Stats()
			if err != nil {
				return err
			}
			return emit(container.Event{Type: "stats", ID: c.ID, Data: s})
		}
		sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
		defer stop()
		return c.Events(sctx, ctx.Duration("interval"), emit)
	},
}
