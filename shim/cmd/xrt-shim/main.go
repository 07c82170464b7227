// Command xrt-shim supervises one container: it creates and starts it
// through a runc-compatible runtime, prints "running, pid N" once it runs
// (or an error, and exits 1), and leaves a detached daemon behind that
// keeps the container's stdio, log and exit status. See docs/shim.md.
//
//	xrt-shim --id ID --bundle DIR --state-dir DIR --log-path FILE [flags]
package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/shim"
)

// version is set by the Makefile (-X main.version=...).
var version = "dev"

const usage = `usage: xrt-shim --id ID --bundle DIR --state-dir DIR --log-path FILE [flags]

Starts the container ID from the bundle DIR through the runtime, prints
"running, pid N" when it runs, and keeps supervising it in the background.

flags:
  --id ID               container id (letters, digits, _ + - .)
  --bundle DIR          bundle directory with config.json
  --runtime PATH        runc-compatible runtime (default: xrt beside xrt-shim, then in PATH)
  --runtime-root DIR    the runtime's --root (default: the runtime's own)
  --state-dir DIR       this container's shim state: control socket, exit status
  --log-path FILE       json-file log of the container's output
  --log-max-size SIZE   rotate the log at SIZE (bytes, or with k, m, g; default: never)
  --log-max-file N      log files to keep, the live one included (default 1)
  --terminal            the process has a terminal (process.terminal in config.json)
  --stdin               keep the process's stdin open for attach
  --hold-output DUR     read no output until the first attach, for at most DUR,
                        so that a client attaching right after the start misses nothing
  --exit-timeout DUR    how long to wait for a client to collect the exit status (default 5m)
  --version             print the version
  --daemon              be the supervisor in this process: no fork, the outcome goes to
                        fd 3 ("ok PID" or "error MESSAGE"); the caller starts it in a new
                        session and reaps it (shim/client does this, saving a process start)
`

// daemonFlag marks the supervisor proper, the detached copy of the shim
// (or a copy shim/client started itself); fd 3 is its report pipe. It must
// come first.
const daemonFlag = "--daemon"

func main() {
	args := os.Args[1:]
	daemon := len(args) > 0 && args[0] == daemonFlag
	if daemon {
		args = args[1:]
	}
	cfg, err := parseArgs(args)
	if err == errHelp {
		os.Stdout.WriteString(usage)
		return
	}
	if err == errVersion {
		os.Stdout.WriteString("xrt-shim " + version + "\n")
		return
	}
	if err == nil {
		err = cfg.Validate()
	}
	if daemon {
		runDaemon(cfg, err)
		return
	}
	if err != nil {
		fail(err)
	}
	if err := spawnDaemon(args); err != nil {
		fail(err)
	}
}

func fail(err error) {
	os.Stderr.WriteString("xrt-shim: " + err.Error() + "\n")
	os.Exit(1)
}

// spawnDaemon starts the detached copy of the shim in a new session, waits
// for its report and prints it.
func spawnDaemon(args []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	argv := append([]string{"xrt-shim", daemonFlag}, args...)
	// The daemon inherits our working directory to resolve relative paths,
	// then leaves it.
	pid, err := syscall.ForkExec(self, argv, &syscall.ProcAttr{
		Env:   shim.DaemonEnv(os.Environ()),
		Files: []uintptr{null.Fd(), null.Fd(), null.Fd(), w.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	w.Close()
	if err != nil {
		return errors.New("start the shim daemon: " + err.Error())
	}
	msg := readAll(r)
	if rest, ok := strings.CutPrefix(msg, "ok "); ok {
		os.Stdout.WriteString("running, pid " + strings.TrimSpace(rest) + "\n")
		return nil
	}
	if rest, ok := strings.CutPrefix(msg, "error "); ok {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil) // it exits right after an error
		return errors.New(strings.TrimSpace(rest))
	}
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	return errors.New("the shim daemon exited without reporting (wait status " + strconv.Itoa(int(ws)) + ")")
}

func readAll(f *os.File) string {
	var b []byte
	buf := make([]byte, 512)
	for {
		n, err := f.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil || len(b) > 64<<10 {
			return string(b)
		}
	}
}

// runDaemon supervises the container; the outcome of the start goes to
// fd 3.
func runDaemon(cfg shim.Config, err error) {
	report := os.NewFile(3, "report")
	reported := false
	send := func(pid int, err error) {
		if reported {
			return
		}
		reported = true
		if err != nil {
			report.WriteString("error " + err.Error() + "\n")
		} else {
			report.WriteString("ok " + strconv.Itoa(pid) + "\n")
			keepStderr(cfg.StateDir)
		}
		report.Close()
	}
	if err != nil {
		send(0, err)
		os.Exit(1)
	}
	// Paths are absolute now; keep no directory of the caller's busy.
	os.Chdir("/")
	// The caller's terminal and signals are not ours any more.
	for _, sig := range []syscall.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGPIPE} {
		ignore(sig)
	}
	if err := shim.Run(cfg, send); err != nil {
		os.Exit(1)
	}
}

// keepStderr points fd 2 at STATE/shim.err, so that a shim that crashes
// leaves its panic where someone can read it (its stderr was /dev/null).
func keepStderr(stateDir string) {
	f, err := os.OpenFile(filepath.Join(stateDir, shim.ErrName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	unix.Dup3(int(f.Fd()), 2, 0)
	f.Close()
}

var errHelp = errors.New("help")
var errVersion = errors.New("version")

// parseArgs reads the flags (--name value or --name=value). It is written
// out rather than using package flag, which would add fmt and reflect to
// every shim's memory.
func parseArgs(args []string) (shim.Config, error) {
	var c shim.Config
	c.LogMaxFile = 1
	strs := map[string]*string{
		"id": &c.ID, "bundle": &c.Bundle, "runtime": &c.Runtime, "runtime-root": &c.RuntimeRoot,
		"state-dir": &c.StateDir, "log-path": &c.LogPath,
	}
	bools := map[string]*bool{"terminal": &c.Terminal, "stdin": &c.Stdin}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return c, errors.New("unexpected argument " + strconv.Quote(a) + " (see --help)")
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		switch name {
		case "h", "help":
			return c, errHelp
		case "v", "version":
			return c, errVersion
		}
		if p, ok := bools[name]; ok {
			*p = true
			if hasValue {
				b, err := strconv.ParseBool(value)
				if err != nil {
					return c, errors.New("--" + name + ": not a boolean: " + strconv.Quote(value))
				}
				*p = b
			}
			continue
		}
		_, isStr := strs[name]
		if !isStr && name != "log-max-size" && name != "log-max-file" && name != "exit-timeout" && name != "hold-output" {
			return c, errors.New("unknown flag --" + name + " (see --help)")
		}
		if !hasValue {
			if i+1 >= len(args) {
				return c, errors.New("--" + name + " needs a value")
			}
			i++
			value = args[i]
		}
		if p, ok := strs[name]; ok {
			*p = value
			continue
		}
		var err error
		switch name {
		case "log-max-size":
			c.LogMaxSize, err = shim.ParseSize(value)
		case "log-max-file":
			c.LogMaxFile, err = strconv.Atoi(value)
		case "exit-timeout":
			c.ExitTimeout, err = time.ParseDuration(value)
		case "hold-output":
			c.HoldOutput, err = time.ParseDuration(value)
		}
		if err != nil {
			return c, errors.New("--" + name + ": invalid value " + strconv.Quote(value))
		}
	}
	return c, nil
}
