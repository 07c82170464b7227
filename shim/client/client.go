// Package client starts xrt-shim processes and talks to them over their
// control sockets. It is all the manager (and the tests) know of the shim:
// Start a container under a new shim, Connect to the shim of a running
// one, Recover every shim under a root after a restart.
//
// Each call opens its own connection to the shim (a unix socket in the
// container's state directory), so a *Shim is safe for concurrent use and
// holds no resources between calls.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xrt-dev/xrt/shim"
	"github.com/xrt-dev/xrt/shim/proto"
)

// Files of a shim's state directory (see docs/shim.md).
const (
	socketName = "shim.sock"
	infoName   = "shim.json"
	exitName   = "exit.json"
)

// Options start a container under a new shim. ID, Bundle, StateDir and
// LogPath are required.
type Options struct {
	Binary      string // xrt-shim; default: $XRT_SHIM_BINARY, then xrt-shim in PATH
	ID          string
	Bundle      string
	Runtime     string // runc-compatible runtime; default: xrt beside xrt-shim, then in PATH
	RuntimeRoot string // the runtime's --root; default: its own
	StateDir    string // private to the container; by convention <root>/<id>, which Recover scans
	LogPath     string
	LogMaxSize  int64 // bytes; 0: never rotate
	LogMaxFile  int   // files kept, the live one included; 0: 1
	Terminal    bool  // must match process.terminal in config.json
	Stdin       bool
	HoldOutput  time.Duration // read no output until the first Attach, at most this long (shim.Config.HoldOutput)
	ExitTimeout time.Duration // how long the shim keeps waiting for Wait after the exit; 0: its default
}

// Shim is a handle on one running shim.
type Shim struct {
	dir string
	// Pid is the container's init, as the shim reported it at start.
	Pid int
}

// ExitStatus is how a container ended (exit.json in the state directory).
type ExitStatus struct {
	ID        string    `json:"id"`
	Pid       int       `json:"pid"`
	ExitCode  int       `json:"exit_code"` // 128+N when killed by signal N
	Signal    int       `json:"signal"`    // 0 unless killed by a signal
	ExitedAt  time.Time `json:"exited_at"`
	OOMKilled bool      `json:"oom_killed"`
}

// State is what a shim says of its container.
type State struct {
	ID       string
	Pid      int // the container's init
	ShimPid  int
	Status   string // "running" or "stopped"
	Bundle   string
	Runtime  string
	LogPath  string
	Terminal bool
	// LogDropped counts the bytes of log entries lost (log file system
	// full) and not yet noted in the log.
	LogDropped int64
	Exit       *ExitStatus // set once stopped
}

// Start runs xrt-shim for the container and returns once the container
// runs, or with the shim's error (runtime missing, bundle invalid, log
// directory not writable, the runtime's own error). The shim then lives
// on its own; ctx bounds only the start.
func Start(ctx context.Context, o Options) (*Shim, error) {
	bin := o.Binary
	if bin == "" {
		bin = os.Getenv("XRT_SHIM_BINARY")
	}
	if bin == "" {
		p, err := exec.LookPath("xrt-shim")
		if err != nil {
			return nil, fmt.Errorf("xrt-shim: %w", err)
		}
		bin = p
	}
	args := []string{"--id", o.ID, "--bundle", o.Bundle, "--state-dir", o.StateDir, "--log-path", o.LogPath}
	if o.Runtime != "" {
		args = append(args, "--runtime", o.Runtime)
	}
	if o.RuntimeRoot != "" {
		args = append(args, "--runtime-root", o.RuntimeRoot)
	}
	if o.LogMaxSize > 0 {
		args = append(args, "--log-max-size", strconv.FormatInt(o.LogMaxSize, 10))
	}
	if o.LogMaxFile > 0 {
		args = append(args, "--log-max-file", strconv.Itoa(o.LogMaxFile))
	}
	if o.Terminal {
		args = append(args, "--terminal")
	}
	if o.HoldOutput > 0 {
		args = append(args, "--hold-output", o.HoldOutput.String())
	}
	if o.Stdin {
		args = append(args, "--stdin")
	}
	if o.ExitTimeout > 0 {
		args = append(args, "--exit-timeout", o.ExitTimeout.String())
	}
	return startDaemon(ctx, bin, o.ID, o.StateDir, args)
}

// startDaemon runs `xrt-shim --daemon` (the supervisor itself, without the
// command's own fork, which costs a process start) in a new session, reads
// its report from fd 3, and reaps it in the background when it exits.
func startDaemon(ctx context.Context, bin, id, dir string, args []string) (*Shim, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(bin, append([]string{"--daemon"}, args...)...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = shim.DaemonEnv(os.Environ())
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("start container %s: %w", id, err)
	}
	go cmd.Wait() // the shim outlives this call; reap it whenever it exits
	stop := context.AfterFunc(ctx, func() { r.Close() })
	defer stop()
	var report bytes.Buffer
	_, err = report.ReadFrom(r)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("start container %s: %w (the shim may still start it: Recover finds it)", id, ctx.Err())
	}
	msg := strings.TrimSpace(report.String())
	if rest, ok := strings.CutPrefix(msg, "ok "); ok {
		pid, perr := strconv.Atoi(rest)
		if perr == nil {
			return &Shim{dir: dir, Pid: pid}, nil
		}
	}
	if rest, ok := strings.CutPrefix(msg, "error "); ok {
		return nil, &ShimError{Msg: fmt.Sprintf("start container %s: %s", id, rest)}
	}
	if err == nil {
		err = errors.New("the shim exited without reporting")
	}
	return nil, fmt.Errorf("start container %s: %w (report %q)", id, err, msg)
}

// Connect returns a handle on the shim whose state directory is dir, once
// it answers.
func Connect(ctx context.Context, dir string) (*Shim, error) {
	s := &Shim{dir: dir}
	st, err := s.State(ctx)
	if err != nil {
		return nil, err
	}
	s.Pid = st.Pid
	return s, nil
}

// StateDir returns the shim's state directory.
func (s *Shim) StateDir() string { return s.dir }

// ErrShimGone is returned when the shim does not answer on its socket.
var ErrShimGone = errors.New("the shim is gone")

// dial opens a connection and sends a request.
func (s *Shim) dial(ctx context.Context, req proto.Fields) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(s.dir, socketName))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%s: %w", s.dir, ErrShimGone)
		}
		return nil, err
	}
	if err := proto.WriteFrame(c, proto.KindRequest, req.Marshal()); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// call sends a request and reads its response, on a connection closed
// when ctx ends.
func (s *Shim) call(ctx context.Context, req proto.Fields) (proto.Fields, error) {
	c, err := s.dial(ctx, req)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	f, err := readResponse(c)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return f, err
}

func readResponse(c net.Conn) (proto.Fields, error) {
	kind, payload, _, err := proto.ReadFrame(c, nil)
	if err != nil {
		return nil, fmt.Errorf("read the shim's response: %w", err)
	}
	if kind != proto.KindResponse {
		return nil, fmt.Errorf("the shim answered with a frame of kind %q", kind)
	}
	f, err := proto.UnmarshalFields(payload)
	if err != nil {
		return nil, err
	}
	if msg := f.Get(proto.FieldError); msg != "" {
		return f, &ShimError{Msg: msg}
	}
	return f, nil
}

// ShimError is an error the shim reported (the runtime's, say), as
// opposed to one of starting or reaching the shim.
type ShimError struct{ Msg string }

func (e *ShimError) Error() string { return e.Msg }

// State asks the shim for its container's state.
func (s *Shim) State(ctx context.Context) (State, error) {
	f, err := s.call(ctx, proto.Request(proto.OpState))
	if err != nil {
		return State{}, err
	}
	st := State{ID: f.Get("id"), Status: f.Get("status"), Bundle: f.Get("bundle"),
		Runtime: f.Get("runtime"), LogPath: f.Get("log-path"), Terminal: f.Bool("terminal")}
	pid, _ := f.Int("pid")
	shimPid, _ := f.Int("shim-pid")
	st.Pid, st.ShimPid = int(pid), int(shimPid)
	st.LogDropped, _ = f.Int("log-dropped")
	if st.Status == "stopped" {
		e := exitFromFields(f)
		e.ID, e.Pid = st.ID, st.Pid
		st.Exit = &e
	}
	return st, nil
}

func exitFromFields(f proto.Fields) ExitStatus {
	code, _ := f.Int(proto.FieldExitCode)
	sig, _ := f.Int(proto.FieldSignal)
	at, _ := time.Parse(time.RFC3339Nano, f.Get(proto.FieldExitedAt))
	return ExitStatus{ExitCode: int(code), Signal: int(sig), ExitedAt: at, OOMKilled: f.Bool(proto.FieldOOMKilled)}
}

// Wait blocks until the container exited and returns its status. The
// shim exits soon after the first Wait is answered; the status stays in
// exit.json, which Wait reads when the shim has already left.
func (s *Shim) Wait(ctx context.Context) (ExitStatus, error) {
	f, err := s.call(ctx, proto.Request(proto.OpWait))
	if errors.Is(err, ErrShimGone) {
		if e, rerr := ReadExit(s.dir); rerr == nil {
			return e, nil
		}
	}
	if err != nil {
		return ExitStatus{}, err
	}
	e := exitFromFields(f)
	e.Pid = s.Pid
	return e, nil
}

// Kill sends sig to the container's init, or to all its processes.
func (s *Shim) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	req := proto.Request(proto.OpKill)
	req.SetInt("signal", int64(sig))
	req.SetBool("all", all)
	_, err := s.call(ctx, req)
	return err
}

// Resize sets the window size of the container's pty.
func (s *Shim) Resize(ctx context.Context, width, height int) error {
	req := proto.Request(proto.OpResize)
	req.SetInt("width", int64(width))
	req.SetInt("height", int64(height))
	_, err := s.call(ctx, req)
	return err
}

// CloseStdin closes the container's stdin (sends end-of-file on a pty).
func (s *Shim) CloseStdin(ctx context.Context) error {
	_, err := s.call(ctx, proto.Request(proto.OpCloseStdin))
	return err
}

// Shutdown tells the shim of a stopped container to exit now. It returns
// once the runtime has deleted the container, so its id may be reused
// (Wait returns before that: the status comes first). A shim that is
// already gone exited after the delete (and its status was collected); a
// delete that failed keeps the shim until Shutdown, which returns the
// runtime's error as a *ShimError.
func (s *Shim) Shutdown(ctx context.Context) error {
	_, err := s.call(ctx, proto.Request(proto.OpShutdown))
	return err
}

// ReadExit reads the exit status a shim left in its state directory.
func ReadExit(dir string) (ExitStatus, error) {
	var e ExitStatus
	data, err := os.ReadFile(filepath.Join(dir, exitName))
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("%s: %w", filepath.Join(dir, exitName), err)
	}
	return e, nil
}
