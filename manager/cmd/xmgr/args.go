package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Docker's CLI (cobra) takes a command's flags anywhere among its
// arguments: `docker save busybox -o f.tar`, `docker rmi x -f`. urfave/cli
// (Go's flag package underneath) stops at the first argument and would
// read "-o" as an image name. interspersed rewrites a command line into
// the order urfave/cli wants: global flags, the command path, then the
// command's flags with their values, then its arguments. Which flags take
// a value comes from the command's own flag definitions, so "-o f.tar"
// stays a pair while "-q x" is a switch and an argument. Everything after
// "--" is an argument, as with docker.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]

	// Global flags, then the command name.
	flags, positional, _ := splitFlags(app.Flags, rest, true)
	out = append(out, flags...)
	if len(positional) == 0 {
		return out
	}
	cmd := findCommand(app.Commands, positional[0])
	if cmd == nil {
		// Not ours to judge: urfave/cli reports the unknown command.
		return append(out, rest[len(flags):]...)
	}
	out = append(out, positional[0])
	rest = rest[len(flags)+1:]

	// Descend into subcommands ("image ls", "system df"): a parent's own
	// flags stay in front of the subcommand's name.
	for len(cmd.Subcommands) > 0 {
		flags, positional, _ := splitFlags(cmd.Flags, rest, true)
		if len(positional) == 0 {
			break
		}
		sub := findCommand(cmd.Subcommands, positional[0])
		if sub == nil {
			break
		}
		out = append(out, flags...)
		out = append(out, positional[0])
		rest = rest[len(flags)+1:]
		cmd = sub
	}

	flags, positional, dashdash := splitFlags(cmd.Flags, rest, stopsAtFirstArg(cmd))
	out = append(out, flags...)
	if dashdash != nil {
		// Every argument goes behind the "--", so that urfave/cli takes
		// the ones that look like flags as arguments too.
		out = append(out, "--")
	}
	out = append(out, positional...)
	return append(out, dashdash...)
}

// splitFlags sorts args into flags (each with its separate value, if the
// flag takes one) and positional arguments. With stopAtArg it stops at the
// first positional argument (returned with everything after it in
// positional), for the flags in front of a command name. dashdash holds
// what followed a "--" (nil when there was none).
func splitFlags(defs []cli.Flag, args []string, stopAtArg bool) (flags, positional, dashdash []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if stopAtArg {
				// In front of a command the "--" belongs to the command
				// line as a whole; leave it for urfave/cli to reject.
				return flags, args[i:], nil
			}
			return flags, positional, append([]string{}, args[i+1:]...)
		case a == "-" || !strings.HasPrefix(a, "-"):
			// "-" alone is an argument (stdin for import).
			if stopAtArg {
				return flags, args[i:], nil
			}
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			if takesSeparateValue(defs, a) {
				if i+1 == len(args) {
					// Its value is missing: it goes last, so that
					// urfave/cli says so instead of taking an argument.
					return flags, nil, nil
				}
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return flags, positional, nil
}

// takesSeparateValue reports whether the flag argument a ("-o", "--output",
// "-qf": short switches with a value-taking flag last) is followed by its
// value as the next argument. "--output=f" carries its own; unknown flags
// are taken for switches, leaving urfave/cli to report them.
func takesSeparateValue(defs []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	if strings.HasPrefix(a, "--") {
		return flagTakesValue(defs, a[2:])
	}
	name := a[1:]
	if f := lookupFlag(defs, name); f != nil {
		return flagTakesValue(defs, name)
	}
	// Combined short flags (-aq, -qf dangling=true): only the last may
	// take a value.
	return flagTakesValue(defs, name[len(name)-1:])
}

func flagTakesValue(defs []cli.Flag, name string) bool {
	f := lookupFlag(defs, name)
	if f == nil {
		return false
	}
	tv, ok := f.(interface{ TakesValue() bool })
	return ok && tv.TakesValue()
}

func lookupFlag(defs []cli.Flag, name string) cli.Flag {
	for _, f := range defs {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
