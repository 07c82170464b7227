package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/reference"
)

// runCommands are the commands that start processes and stream their
// input and output: run, create, start, attach, exec, logs.
func runCommands() []*cli.Command {
	return []*cli.Command{runCommand(), createCommand(), startCommand(), attachCommand(), execCommand(), logsCommand()}
}

// commandsTakingACommand are docker's commands whose flags end at the
// first argument (cobra's SetInterspersed(false)): what follows the image
// or container is the process's command line, flags and all, as in
// `xmgr run busybox ls -l`.
var commandsTakingACommand = map[string]bool{"run": true, "create": true, "exec": true, "top": true}

// stopsAtFirstArg reports whether cmd's flags end at its first argument;
// the command line rewriting of args.go asks it.
func stopsAtFirstArg(cmd *cli.Command) bool { return commandsTakingACommand[cmd.Name] }

// autoRemoveWait bounds the wait for the removal of a --rm container
// that failed to start.
const autoRemoveWait = 5 * time.Second

// codedError is an error with the exit code docker gives it (125 for run
// and create failures, 126/127 for a command that cannot be run).
type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }
func (e *codedError) ExitCode() int { return e.code }

func withCode(err error, code int) error {
	if err == nil {
		return nil
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	return &codedError{err: err, code: code}
}

// exitStatus is a process's exit status passed on as ours, silently.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// withExitStatus runs action and exits with the container's (or exec's)
// status when it returns one; its deferred clean-ups (the terminal's mode)
// have run by then.
func withExitStatus(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := action(c)
		var st exitStatus
		if errors.As(err, &st) {
			os.Exit(int(st))
		}
		return err
	}
}

// startError maps a failed start as docker's run does: 127 when the
// command is not there, 126 when it cannot be run, 125 otherwise.
func startError(err error) error {
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "system error"):
		code = 127
	case strings.Contains(msg, syscall.EACCES.Error()):
		code = 126
	}
	return &codedError{err: err, code: code}
}

func runCommand() *cli.Command {
	flags := append(createFlags(),
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run container in background and print container ID"},
		&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "proxy received signals to the process"},
		&cli.StringFlag{Name: "detach-keys", Usage: "override the key sequence for detaching a container"},
	)
	return &cli.Command{
		Name:      "run",
		Usage:     "Run a command in a new container",
		ArgsUsage: "IMAGE [COMMAND] [ARG...]",
		HideHelp:  true,
		Flags:     flags,
		Action:    withExitStatus(runRun),
	}
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "Create a new container",
		ArgsUsage: "IMAGE [COMMAND] [ARG...]",
		HideHelp:  true,
		Flags:     createFlags(),
		Action: func(c *cli.Context) error {
			o, err := parseCreateOptions(c)
			if err != nil {
				return err
			}
			cl, err := connect(c)
			if err != nil {
				return withCode(err, exitUsage)
			}
			id, err := createContainer(c, cl, o)
			if err != nil {
				return err
			}
			fmt.Println(id)
			return nil
		},
	}
}

func runRun(c *cli.Context) error {
	o, err := parseCreateOptions(c)
	if err != nil {
		return err
	}
	cfg := &o.req.ContainerConfig
	detach := c.Bool("detach")
	if detach {
		if c.IsSet("attach") {
			return usagef("conflicting options: -a and -d")
		}
		cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StdinOnce = false, false, false, false
	} else {
		cfg.StdinOnce = cfg.OpenStdin && cfg.AttachStdin
		if cfg.Tty && cfg.AttachStdin && !isTerminal(os.Stdin) {
			return errors.New("the input device is not a TTY")
		}
	}
	keys := c.String("detach-keys")
	detachKeys, err := parseDetachKeys(orDefault(keys, defaultDetachKeys))
	if err != nil {
		return usagef("%v", err)
	}
	if cfg.Tty {
		if h, w, ok := terminalSize(); ok {
			o.req.HostConfig.ConsoleSize = [2]uint{h, w}
		}
	}
	cl, err := connect(c)
	if err != nil {
		return withCode(err, exitUsage)
	}
	id, err := createContainer(c, cl, o)
	if err != nil {
		return err
	}
	if detach {
		if err := cl.ContainerStart(c.Context, id); err != nil {
			discard(c.Context, cl, id)
			return startError(err)
		}
		fmt.Println(id)
		return nil
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	if c.Bool("sig-proxy") && !cfg.Tty {
		proxySignals(ctx, func(ctx context.Context, sig string) error { return cl.ContainerKill(ctx, id, sig) })
	}
	// Attach first and register the wait, then start: no output and no
	// exit can be missed.
	var attached chan error
	var conn client.HijackedResponse
	if cfg.AttachStdin || cfg.AttachStdout || cfg.AttachStderr {
		conn, err = cl.ContainerAttach(ctx, id, client.AttachOptions{Stream: true,
			Stdin: cfg.AttachStdin, Stdout: cfg.AttachStdout, Stderr: cfg.AttachStderr, DetachKeys: keys})
		if err != nil {
			return withCode(err, exitUsage)
		}
		defer conn.Close()
		if cfg.Tty && cfg.AttachStdin {
			defer rawTerminal()()
		}
		attached = make(chan error, 1)
		go func() {
			attached <- pump(ctx, conn, localStreams(cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.Tty, detachKeys))
		}()
	}
	condition := "next-exit"
	if o.req.HostConfig.AutoRemove {
		condition = "removed"
	}
	waitC, waitErr := cl.ContainerWait(ctx, id, condition)
	if err := cl.ContainerStart(ctx, id); err != nil {
		if attached != nil {
			conn.Close()
			<-attached
		}
		if o.req.HostConfig.AutoRemove {
			// The daemon removes it; leave when it is gone, as docker.
			// Should it not, remove it here: --rm leaves nothing.
			select {
			case <-waitC:
			case <-waitErr:
			case <-time.After(autoRemoveWait):
				_ = cl.ContainerRemove(c.Context, id, true, true)
			}
		}
		discard(c.Context, cl, id)
		return startError(err)
	}
	return awaitExit(ctx, cl, id, cfg.Tty, attached, waitC, waitErr)
}

// awaitExit follows the terminal's size (with a tty), waits for the
// attached streams (nil: none) to end and then for the container's exit,
// whose code becomes the command's. A detach ends it at once.
func awaitExit(ctx context.Context, cl *client.Client, id string, tty bool, attached <-chan error,
	waitC <-chan types.ContainerWaitResponse, waitErr <-chan error) error {
	if tty && isTerminal(os.Stdout) {
		followTerminalSize(ctx, func(ctx context.Context, h, w uint) error { return cl.ContainerResize(ctx, id, h, w) })
	}
	if attached != nil {
		if err := <-attached; err != nil {
			if errors.Is(err, errDetached) {
				return nil
			}
			return err
		}
	}
	select {
	case r := <-waitC:
		if r.StatusCode != 0 {
			return exitStatus(r.StatusCode)
		}
		return nil
	case err := <-waitErr:
		return withCode(err, exitUsage)
	}
}

// localStreams ties the attached streams to this process's stdio.
func localStreams(stdin, stdout, stderr, tty bool, detachKeys []byte) streams {
	s := streams{tty: tty, detachKeys: detachKeys}
	if stdin {
		s.stdin = os.Stdin
	}
	if stdout {
		s.stdout = os.Stdout
	}
	if stderr {
		s.stderr = os.Stderr
		if tty {
			// A tty has one output stream.
			s.stderr = nil
			s.stdout = os.Stdout
		}
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// createContainer creates the container as docker's CLI does: the
// --cidfile first (refused when it exists, removed if the create fails),
// the image pulled first with --pull always or when the daemon does not
// have it (--pull missing), the daemon's warnings on stderr. Errors have
// exit code 125.
func createContainer(c *cli.Context, cl *client.Client, o *createOptions) (id string, retErr error) {
	if o.cidfile != "" {
		if _, err := os.Stat(o.cidfile); err == nil {
			return "", withCode(fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", o.cidfile), exitUsage)
		}
		f, err := os.OpenFile(o.cidfile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return "", withCode(fmt.Errorf("failed to create the container ID file: %w", err), exitUsage)
		}
		defer func() {
			if retErr == nil {
				_, retErr = f.WriteString(id)
			}
			if err := f.Close(); retErr == nil && err != nil {
				retErr = err
			}
			if retErr != nil {
				os.Remove(o.cidfile)
				retErr = withCode(retErr, exitUsage)
			}
		}()
	}
	if o.pull == "always" {
		if err := pullForRun(c, cl, o.req.Image, o.platform); err != nil {
			return "", withCode(err, exitUsage)
		}
	}
	resp, err := cl.ContainerCreate(c.Context, o.name, o.platform, &o.req)
	if err != nil && o.pull == "missing" && errdefs.IsNotFound(err) && strings.Contains(err.Error(), "No such image") {
		ref := o.req.Image
		if n, perr := reference.Parse(ref); perr == nil {
			ref = n.Familiar()
		}
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", ref)
		if err := pullForRun(c, cl, o.req.Image, o.platform); err != nil {
			return "", withCode(err, exitUsage)
		}
		resp, err = cl.ContainerCreate(c.Context, o.name, o.platform, &o.req)
	}
	if err != nil {
		return "", withCode(err, exitUsage)
	}
	for _, w := range resp.Warnings {
		fmt.Fprintf(os.Stderr, "WARNING: %s\n", w)
	}
	return resp.ID, nil
}

// pullForRun pulls ref with its progress on stderr, as docker run does.
func pullForRun(c *cli.Context, cl *client.Client, ref, platform string) error {
	n, err := reference.Parse(ref)
	if err != nil {
		return err
	}
	rc, err := cl.ImagePull(c.Context, n.Familiar(), platform, authFor(c, ref))
	if err != nil {
		return err
	}
	defer rc.Close()
	return progress.Display(rc, os.Stderr, isTerminal(os.Stderr))
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "Start one or more stopped containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach STDOUT/STDERR and forward signals"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach container's STDIN"},
			&cli.StringFlag{Name: "detach-keys", Usage: "override the key sequence for detaching a container"},
		},
		Action: withExitStatus(runStart),
	}
}

func runStart(c *cli.Context) error {
	if err := needArgs(c, 1); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	if !c.Bool("attach") && !c.Bool("interactive") {
		var failed []string
		for _, name := range c.Args().Slice() {
			if err := cl.ContainerStart(c.Context, name); err != nil {
				fmt.Fprintf(os.Stderr, "Error response from daemon: %v\n", err)
				failed = append(failed, name)
				continue
			}
			fmt.Println(name)
		}
		if len(failed) > 0 {
			return fmt.Errorf("failed to start containers: %s", strings.Join(failed, ", "))
		}
		return nil
	}
	if c.NArg() > 1 {
		return usagef("you cannot start and attach multiple containers at once")
	}
	ctr, _, err := cl.ContainerInspect(c.Context, c.Args().First(), false)
	if err != nil {
		return err
	}
	stdin := c.Bool("interactive") && ctr.Config.OpenStdin
	return attachAndFollow(c, cl, ctr, attachSpec{
		stdin: stdin, stdout: c.Bool("attach"), stderr: c.Bool("attach"),
		detachKeys: c.String("detach-keys"), sigProxy: c.Bool("attach") && !ctr.Config.Tty, start: true,
	})
}

// attachSpec is how start -a and attach tie a container to the terminal.
type attachSpec struct {
	stdin, stdout, stderr bool
	detachKeys            string
	sigProxy              bool
	start                 bool // start it after attaching (start -a)
}

// attachAndFollow attaches to ctr, registers a wait for its exit, starts
// it if asked, streams until the stream ends and returns its exit status.
func attachAndFollow(c *cli.Context, cl *client.Client, ctr types.ContainerJSON, a attachSpec) error {
	tty := ctr.Config != nil && ctr.Config.Tty
	if tty && a.stdin && !isTerminal(os.Stdin) {
		return errors.New("the input device is not a TTY")
	}
	keys, err := parseDetachKeys(orDefault(a.detachKeys, defaultDetachKeys))
	if err != nil {
		return usagef("%v", err)
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	conn, err := cl.ContainerAttach(ctx, ctr.ID, client.AttachOptions{Stream: true,
		Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, DetachKeys: a.detachKeys})
	if err != nil {
		return err
	}
	defer conn.Close()
	if tty && a.stdin {
		defer rawTerminal()()
	}
	if a.sigProxy {
		proxySignals(ctx, func(ctx context.Context, sig string) error { return cl.ContainerKill(ctx, ctr.ID, sig) })
	}
	condition := "next-exit"
	if !a.start {
		condition = ""
	} else if ctr.HostConfig != nil && ctr.HostConfig.AutoRemove {
		condition = "removed"
	}
	waitC, waitErr := cl.ContainerWait(ctx, ctr.ID, condition)
	attached := make(chan error, 1)
	go func() { attached <- pump(ctx, conn, localStreams(a.stdin, a.stdout, a.stderr, tty, keys)) }()
	if a.start {
		if err := cl.ContainerStart(ctx, ctr.ID); err != nil {
			return err
		}
	}
	return awaitExit(ctx, cl, ctr.ID, tty, attached, waitC, waitErr)
}

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach",
		Usage:     "Attach local standard input, output, and error streams to a running container",
		ArgsUsage: "CONTAINER",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "detach-keys", Usage: "override the key sequence for detaching a container"},
			&cli.BoolFlag{Name: "no-stdin", Usage: "do not attach STDIN"},
			&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "proxy all received signals to the process"},
		},
		Action: withExitStatus(func(c *cli.Context) error {
			if err := exactArgs(c, 1); err != nil {
				return err
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			ctr, _, err := cl.ContainerInspect(c.Context, c.Args().First(), false)
			if err != nil {
				return err
			}
			switch {
			case ctr.State == nil || !ctr.State.Running:
				return errors.New("you cannot attach to a stopped container, start it first")
			case ctr.State.Paused:
				return errors.New("you cannot attach to a paused container, unpause it first")
			case ctr.State.Restarting:
				return errors.New("you cannot attach to a restarting container, wait until it is running")
			}
			stdin := !c.Bool("no-stdin") && ctr.Config != nil && ctr.Config.OpenStdin
			return attachAndFollow(c, cl, ctr, attachSpec{stdin: stdin, stdout: true, stderr: true,
				detachKeys: c.String("detach-keys"), sigProxy: c.Bool("sig-proxy") && !ctr.Config.Tty})
		}),
	}
}

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "Run a command in a running container",
		ArgsUsage: "CONTAINER COMMAND [ARG...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detached mode: run command in the background"},
			&cli.StringFlag{Name: "detach-keys", Usage: "override the key sequence for detaching a container"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set environment variables"},
			&cli.StringSliceFlag{Name: "env-file", Usage: "read in a file of environment variables"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep STDIN open even if not attached"},
			&cli.BoolFlag{Name: "privileged", Usage: "give extended privileges to the command"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "username or UID (format: <name|uid>[:<group|gid>])"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		},
		Action: withExitStatus(runExec),
	}
}

func runExec(c *cli.Context) error {
	if err := needArgs(c, 2); err != nil {
		return err
	}
	env, err := parseEnv(c.StringSlice("env-file"), c.StringSlice("env"))
	if err != nil {
		return err
	}
	keys := c.String("detach-keys")
	detachKeys, err := parseDetachKeys(orDefault(keys, defaultDetachKeys))
	if err != nil {
		return usagef("%v", err)
	}
	detach := c.Bool("detach")
	cfg := types.ExecConfig{
		User: c.String("user"), Privileged: c.Bool("privileged"), Tty: c.Bool("tty"),
		Detach: detach, DetachKeys: keys, Env: env, WorkingDir: c.String("workdir"),
		Cmd: c.Args().Tail(),
	}
	if !detach {
		cfg.AttachStdout, cfg.AttachStderr = true, true
		cfg.AttachStdin = c.Bool("interactive")
		if cfg.Tty && cfg.AttachStdin && !isTerminal(os.Stdin) {
			return errors.New("the input device is not a TTY")
		}
	}
	var start types.ExecStartRequest
	if cfg.Tty {
		if h, w, ok := terminalSize(); ok {
			size := [2]uint{h, w}
			cfg.ConsoleSize, start.ConsoleSize = &size, &size
		}
	}
	start.Tty = cfg.Tty
	cl, err := connect(c)
	if err != nil {
		return err
	}
	ctrName := c.Args().First()
	id, err := cl.ContainerExecCreate(c.Context, ctrName, cfg)
	if err != nil {
		return err
	}
	if detach {
		return withCode(cl.ContainerExecStart(c.Context, id, start), 126)
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	conn, err := cl.ContainerExecAttach(ctx, id, start)
	if err != nil {
		return withCode(err, 126)
	}
	defer conn.Close()
	if cfg.Tty && cfg.AttachStdin {
		defer rawTerminal()()
	}
	if cfg.Tty && isTerminal(os.Stdout) {
		followTerminalSize(ctx, func(ctx context.Context, h, w uint) error { return cl.ContainerExecResize(ctx, id, h, w) })
	}
	if err := pump(ctx, conn, localStreams(cfg.AttachStdin, true, true, cfg.Tty, detachKeys)); err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	ins, err := cl.ContainerExecInspect(ctx, id)
	if err != nil {
		return err
	}
	if ins.ExitCode != nil && *ins.ExitCode != 0 {
		return exitStatus(*ins.ExitCode)
	}
	return nil
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "Fetch the logs of a container",
		ArgsUsage: "CONTAINER",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "details", Usage: "show extra details provided to logs"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow log output"},
			&cli.StringFlag{Name: "since", Usage: "show logs since timestamp (2013-01-02T13:23:37Z) or relative (42m for 42 minutes)"},
			&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "number of lines to show from the end of the logs"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
			&cli.StringFlag{Name: "until", Usage: "show logs before a timestamp (2013-01-02T13:23:37Z) or relative (42m for 42 minutes)"},
		},
		Action: runLogs,
	}
}

func runLogs(c *cli.Context) error {
	if err := exactArgs(c, 1); err != nil {
		return err
	}
	opts := client.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: c.Bool("follow"),
		Timestamps: c.Bool("timestamps"), Details: c.Bool("details"), Tail: c.String("tail")}
	var err error
	if opts.Since, err = logTime("since", c.String("since")); err != nil {
		return err
	}
	if opts.Until, err = logTime("until", c.String("until")); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	ctr, _, err := cl.ContainerInspect(c.Context, c.Args().First(), false)
	if err != nil {
		return err
	}
	rc, err := cl.ContainerLogs(c.Context, ctr.ID, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	if ctr.Config != nil && ctr.Config.Tty {
		_, err = io.Copy(os.Stdout, rc)
		return err
	}
	return demux(os.Stdout, os.Stderr, rc)
}

// discard removes a container that `run` created but could not start (a
// port in use, a missing command): unlike Docker, which leaves it
// "Created" and its name taken, a failed run leaves nothing behind.
func discard(ctx context.Context, cl *client.Client, id string) {
	_ = cl.ContainerRemove(ctx, id, true, true)
}
