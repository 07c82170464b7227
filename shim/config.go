// Package shim is xrt-shim, the supervisor of one container: it creates and
// starts the container through a runc-compatible runtime, owns its stdio
// (pipes or a pty), writes its json-file log, reaps it as a child
// subreaper, records its exit status, and answers a control socket. The
// command is shim/cmd/xrt-shim; the manager talks to it through shim/client.
//
// The shim is kept small in memory (a few MiB per container): it uses no
// encoding/json, fmt, net or os/exec, and its protocol (shim/proto) is
// hand-framed. docs/shim.md describes the protocol and the state directory.
package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Files in the state directory.
const (
	SocketName     = "shim.sock"   // the control socket, mode 0600
	InfoName       = "shim.json"   // what runs: id, pids, bundle, runtime, log
	ExitName       = "exit.json"   // the exit status, written atomically
	PidName        = "init.pid"    // the container's init pid, from the runtime
	RuntimeLogName = "runtime.log" // the runtime's --log (json)
	ErrName        = "shim.err"    // the shim's own stderr once it runs: a crash leaves its panic here
)

// maxSocketPath is the longest path a unix socket address holds.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// Config is what one shim supervises and how.
type Config struct {
	ID          string
	Bundle      string // directory with config.json
	Runtime     string // runc-compatible binary
	RuntimeRoot string // the runtime's --root; "" for its default
	StateDir    string // private to this container
	LogPath     string // json-file log
	LogMaxSize  int64  // bytes; 0: never rotate
	LogMaxFile  int    // files kept, the live one included
	Terminal    bool   // the process has a pty (process.terminal in config.json)
	Stdin       bool   // keep stdin open for attach
	// HoldOutput: read none of the container's output until the first
	// client attaches, or for this long at most (0: no hold). `docker
	// run` attaches before it starts the container and must see its first
	// byte; until then the output waits in the pipe (or pty) as it would
	// in a FIFO without a reader.
	HoldOutput  time.Duration
	ExitTimeout time.Duration
}

// DefaultExitTimeout is how long a shim waits, after its container exited,
// for a client to collect the status.
const DefaultExitTimeout = 5 * time.Minute

// DaemonEnv returns the environment to start the supervisor with: environ
// plus the Go runtime settings that keep a shim small, unless environ sets
// them. GOGC=25: the heap of a shim is a few hundred KB, and the default
// lets it grow to 4 MB between collections. GOMAXPROCS=1: one P (one set
// of per-P caches) is plenty for copying two streams; blocking writes
// release it. (Set through the environment: runtime/debug would add fmt
// to the binary.) The runtime the shim runs does not inherit them.
func DaemonEnv(environ []string) []string {
	env := append([]string(nil), environ...)
	for _, kv := range []string{"GOGC=25", "GOMAXPROCS=1"} {
		name := kv[:strings.IndexByte(kv, '=')+1]
		found := false
		for _, e := range environ {
			if strings.HasPrefix(e, name) {
				found = true
				break
			}
		}
		if !found {
			env = append(env, kv)
		}
	}
	return env
}

// validID is runc's rule for container ids.
func validID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 1024 {
		return false
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '+' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// Validate checks the config and makes its paths absolute. It touches
// nothing: what it cannot check without side effects (opening the log) the
// shim reports when it starts.
func (c *Config) Validate() error {
	if !validID(c.ID) {
		return errors.New("invalid container id " + strconv.Quote(c.ID) + ": use letters, digits, _ + - .")
	}
	for _, p := range []struct {
		name string
		v    *string
	}{{"--bundle", &c.Bundle}, {"--state-dir", &c.StateDir}, {"--log-path", &c.LogPath}} {
		if *p.v == "" {
			return errors.New(p.name + " is required")
		}
		abs, err := filepath.Abs(*p.v)
		if err != nil {
			return errors.New(p.name + ": " + err.Error())
		}
		*p.v = abs
	}
	if c.RuntimeRoot != "" {
		abs, err := filepath.Abs(c.RuntimeRoot)
		if err != nil {
			return errors.New("--runtime-root: " + err.Error())
		}
		c.RuntimeRoot = abs
	}
	if c.LogMaxSize < 0 || c.LogMaxFile < 0 {
		return errors.New("--log-max-size and --log-max-file must not be negative")
	}
	if c.ExitTimeout <= 0 {
		c.ExitTimeout = DefaultExitTimeout
	}
	rt, err := findRuntime(c.Runtime)
	if err != nil {
		return err
	}
	c.Runtime = rt
	if st, err := os.Stat(filepath.Join(c.Bundle, "config.json")); err != nil {
		return errors.New("bundle " + c.Bundle + " is not valid: " + errText(err))
	} else if !st.Mode().IsRegular() {
		return errors.New("bundle " + c.Bundle + " is not valid: config.json is not a regular file")
	}
	if n := len(filepath.Join(c.StateDir, SocketName)); n > maxSocketPath {
		return errors.New("--state-dir " + c.StateDir + " is too long for a unix socket path (" +
			strconv.Itoa(n) + " bytes with /" + SocketName + ", at most " + strconv.Itoa(maxSocketPath) + ")")
	}
	logDir := filepath.Dir(c.LogPath)
	if st, err := os.Stat(logDir); err != nil {
		return errors.New("log directory " + logDir + ": " + errText(err))
	} else if !st.IsDir() {
		return errors.New("log directory " + logDir + " is not a directory")
	}
	if err := unix.Access(logDir, unix.W_OK|unix.X_OK); err != nil {
		return errors.New("log directory " + logDir + " is not writable: " + errText(err))
	}
	return nil
}

// findRuntime resolves the runtime binary: a path, a name looked up in
// PATH, or (when empty) xrt beside this executable, then xrt in PATH.
func findRuntime(name string) (string, error) {
	var candidates []string
	switch {
	case name == "":
		if self, err := os.Executable(); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(self), "xrt"))
		}
		name = "xrt"
		fallthrough
	case !strings.Contains(name, "/"):
		for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
			if dir != "" {
				candidates = append(candidates, filepath.Join(dir, name))
			}
		}
	default:
		candidates = []string{name}
	}
	var firstErr error
	for _, p := range candidates {
		err := checkExecutable(p)
		if err == nil {
			return filepath.Abs(p)
		}
		if firstErr == nil || !os.IsNotExist(err) {
			firstErr = err
		}
	}
	if len(candidates) == 1 {
		return "", errors.New("runtime " + candidates[0] + ": " + errText(firstErr))
	}
	return "", errors.New("runtime " + strconv.Quote(name) + " not found (looked beside xrt-shim and in PATH)")
}

func checkExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if st.Mode().Perm()&0o111 == 0 {
		return errors.New("not executable")
	}
	return unix.Access(p, unix.X_OK)
}

// errText is err's message without the Go-specific "stat /x:" prefix
// duplication of *PathError: the callers already name the path.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// ParseSize reads a size as Docker's --log-opt max-size takes it: a number
// with an optional k, m or g suffix (powers of 1024).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("invalid size " + strconv.Quote(s) + " (want a number with an optional k, m or g)")
	}
	return n * mult, nil
}
