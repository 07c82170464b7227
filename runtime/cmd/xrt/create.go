package main

import (
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/runtime/container"
)

var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle directory"},
	&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master when process.terminal is true"},
	&cli.StringFlag{Name: "pid-file", Usage: "write the pid of the container's init to this file"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot_root (for a rootfs on a ramdisk)"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "do not give the container a session keyring of its own"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds (from 3 up) to the container"},
}

func createOptions(ctx *cli.Context) container.CreateOptions {
	return container.CreateOptions{
		Bundle:        ctx.String("bundle"),
		ConsoleSocket: ctx.String("console-socket"),
		PidFile:       ctx.String("pid-file"),
		NoPivot:       ctx.Bool("no-pivot"),
		NoNewKeyring:  ctx.Bool("no-new-keyring"),
		PreserveFds:   ctx.Int("preserve-fds"),
		SystemdCgroup: ctx.Bool("systemd-cgroup"),
	}
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container and leave it waiting for start",
	ArgsUsage: "<container-id>",
	Flags:     createFlags,
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "a container id"); err != nil {
			return err
		}
		_, err := container.Create(ctx.String("root"), ctx.Args().First(), createOptions(ctx))
		return err
	},
}

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "run the user's program of a created container",
	ArgsUsage: "<container-id>",
	Action: func(ctx *cli.Context) error {
		c, err := load(ctx)
		if err != nil {
			return err
		}
		return c.Start()
	},
}

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container; in the foreground, wait for it and exit with its code",
	ArgsUsage: "<container-id>",
	Flags: append(createFlags[:len(createFlags):len(createFlags)],
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the container runs"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
	),
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "a container id"); err != nil {
			return err
		}
		code, err := container.Run(ctx.String("root"), ctx.Args().First(), container.RunOptions{
			CreateOptions: createOptions(ctx),
			Detach:        ctx.Bool("detach"),
			Keep:          ctx.Bool("keep"),
		})
		if err != nil {
			return err
		}
		if code != 0 {
			return &exitCode{code}
		}
		return nil
	},
}
