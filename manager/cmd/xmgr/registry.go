package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/reference"
)

var pullCommand = &cli.Command{
	Name:      "pull",
	Usage:     "Pull an image from a registry",
	ArgsUsage: "NAME[:TAG|@DIGEST]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "platform", Usage: "set platform if server is multi-platform capable (os/arch[/variant])"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress verbose output"},
	},
	Action: runPull,
}

func runPull(c *cli.Context) error {
	if err := exactArgs(c, 1); err != nil {
		return err
	}
	ref := c.Args().First()
	n, err := reference.Parse(ref)
	if err != nil {
		return err
	}
	if bare, _ := reference.ParseNamed(ref); bare.Tag == "" && bare.Digest == "" && !c.Bool("quiet") {
		fmt.Println("Using default tag: latest")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	rc, err := cl.ImagePull(c.Context, n.Familiar(), c.String("platform"), authFor(c, ref))
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := showProgress(rc, c.Bool("quiet")); err != nil {
		return err
	}
	fmt.Println(n.String())
	return nil
}

// showProgress draws a JSON message stream on stdout, or reads it silently
// when quiet, and returns the stream's error either way.
func showProgress(r io.Reader, quiet bool) error {
	if quiet {
		return progress.Display(r, io.Discard, false)
	}
	return display(r)
}

var pushCommand = &cli.Command{
	Name:      "push",
	Usage:     "Push an image to a registry",
	ArgsUsage: "NAME[:TAG]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress verbose output"},
	},
	Action: func(c *cli.Context) error {
		if err := exactArgs(c, 1); err != nil {
			return err
		}
		ref := c.Args().First()
		n, err := reference.Parse(ref)
		if err != nil {
			return err
		}
		cl, err := connect(c)
		if err != nil {
			return err
		}
		rc, err := cl.ImagePush(c.Context, n.Familiar(), authFor(c, ref))
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := showProgress(rc, c.Bool("quiet")); err != nil {
			return err
		}
		if c.Bool("quiet") {
			fmt.Println(n.String())
		}
		return nil
	},
}

var loginCommand = &cli.Command{
	Name:      "login",
	Usage:     "Log in to a registry",
	ArgsUsage: "[SERVER]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "username"},
		&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "take the password from stdin"},
	},
	Action: runLogin,
}

// runLogin has the daemon check the credentials (POST /auth), then keeps
// them in the client's config.json as docker login does.
func runLogin(c *cli.Context) error {
	if c.NArg() > 1 {
		return argsError(c, "at most 1 argument")
	}
	server := reference.IndexServer(c.Args().First())
	user, pass := c.String("username"), c.String("password")
	if c.Bool("password-stdin") {
		if pass != "" {
			return usagef("--password and --password-stdin are mutually exclusive")
		}
		if user == "" {
			return usagef("must provide --username with --password-stdin")
		}
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	in := bufio.NewReader(os.Stdin)
	if user == "" {
		fmt.Print("Username: ")
		line, _ := in.ReadString('\n')
		user = strings.TrimSpace(line)
	}
	if pass == "" {
		fmt.Print("Password: ")
		p, err := readPassword(in)
		fmt.Println()
		if err != nil {
			return err
		}
		pass = p
	} else if c.IsSet("password") {
		fmt.Fprintln(os.Stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	if user == "" || pass == "" {
		return errors.New("username and password are required")
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	ok, err := cl.RegistryLogin(c.Context, types.AuthConfig{Username: user, Password: pass, ServerAddress: server})
	if err != nil {
		return err
	}
	path := configPath(c)
	raw, auths, err := readConfig(path)
	if err != nil {
		return err
	}
	e := authEntry{IdentityToken: ok.IdentityToken}
	if ok.IdentityToken == "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	}
	auths[server] = e
	if err := writeConfig(path, raw, auths); err != nil {
		return fmt.Errorf("storing the credentials: %w", err)
	}
	fmt.Println(ok.Status)
	return nil
}

// readPassword reads a line without echo when stdin is a terminal.
func readPassword(in *bufio.Reader) (string, error) {
	fd := int(os.Stdin.Fd())
	if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		quiet := *t
		quiet.Lflag &^= unix.ECHO
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err == nil {
			defer unix.IoctlSetTermios(fd, unix.TCSETS, t)
		}
	}
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

var logoutCommand = &cli.Command{
	Name:      "logout",
	Usage:     "Log out from a registry",
	ArgsUsage: "[SERVER]",
	Action: func(c *cli.Context) error {
		if c.NArg() > 1 {
			return argsError(c, "at most 1 argument")
		}
		server := reference.IndexServer(c.Args().First())
		path := configPath(c)
		raw, auths, err := readConfig(path)
		if err != nil {
			return err
		}
		if _, ok := auths[server]; !ok {
			fmt.Printf("Not logged in to %s\n", server)
			return nil
		}
		fmt.Printf("Removing login credentials for %s\n", server)
		delete(auths, server)
		return writeConfig(path, raw, auths)
	},
}
