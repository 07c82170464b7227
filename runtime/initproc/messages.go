package initproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Kind names a message between the runtime (the parent) and the container's
// init. Every message is one JSON object on one line, so the C half in
// package nsenter can speak the same framing without a JSON library.
type Kind string

const (
	KindPid         Kind = "pid"          // nsenter → parent: the host pid of init (join mode)
	KindUserMap     Kind = "usermap"      // nsenter → parent: write the maps of my new user namespace
	KindUserMapDone Kind = "usermap-done" // parent → nsenter
	KindConfig      Kind = "config"       // parent → init: what to build
	KindPlaced      Kind = "placed"       // parent → init: you are in your cgroup; go on
	KindRunHooks    Kind = "run-hooks"    // init → parent: namespaces and mounts are ready; run prestart and createRuntime
	KindHooksDone   Kind = "hooks-done"   // parent → init
	KindCreated     Kind = "created"      // init → parent: set up, now waiting for start
	KindError       Kind = "error"        // either way: the operation failed
	KindExec        Kind = "exec"         // parent → exec child: the process to start (ExecConfig)
)

// Message is one line of the protocol.
type Message struct {
	Kind   Kind    `json:"type"`
	Pid    int     `json:"pid,omitempty"`
	Error  string  `json:"error,omitempty"`
	Config *Config `json:"config,omitempty"`
}

// Config is everything init needs to build the container.
type Config struct {
	ID           string      `json:"id"`
	Bundle       string      `json:"bundle"`
	Rootfs       string      `json:"rootfs"` // absolute host path
	Pid          int         `json:"pid"`    // init's pid on the host, for hook state
	Spec         *rspec.Spec `json:"spec"`
	NoPivot      bool        `json:"noPivot,omitempty"`
	NoNewKeyring bool        `json:"noNewKeyring,omitempty"`
	// PreserveFds counts the fds from 3 up that the user process keeps.
	PreserveFds int `json:"preserveFds,omitempty"`
	// FifoFd is the exec fifo init blocks on until `start`; 0 for exec'd processes.
	FifoFd int `json:"fifoFd,omitempty"`
	// ConsoleFd is a connected unix socket to send the pty master on; 0 without a terminal.
	ConsoleFd int `json:"consoleFd,omitempty"`
	// Seccomp is the compiled filter (seccomp.Filter.MarshalBinary): the
	// runtime compiles it, with a cache, so init only loads it.
	Seccomp []byte `json:"seccomp,omitempty"`
	// CgroupTasks are the cgroup v1 "tasks" files init writes "0" to,
	// moving its exec thread into the container's cgroup itself.
	CgroupTasks []string `json:"cgroupTasks,omitempty"`
	// NewCgroupNS asks init to unshare the cgroup namespace itself, after the
	// parent has placed it in its cgroup, so the namespace is rooted there.
	NewCgroupNS bool `json:"newCgroupNS,omitempty"`
	// ProcessPid is the pid of an exec'd process (Pid is then the
	// container's init), for the seccomp agent. Set in the exec child only.
	ProcessPid int `json:"-"`
}

// Conn frames messages over a stream (a socketpair end).
type Conn struct {
	r *bufio.Reader
	w io.Writer
}

// NewConn wraps rw.
func NewConn(rw io.ReadWriter) *Conn {
	return &Conn{r: bufio.NewReader(rw), w: rw}
}

// Send writes one message.
func (c *Conn) Send(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = c.w.Write(append(b, '\n'))
	return err
}

// Recv reads one message. An error message from the other side is returned
// as an error, so callers only handle the kinds they expect.
func (c *Conn) Recv() (Message, error) {
	var m Message
	line, err := c.readLine()
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("bad message from init: %w", err)
	}
	if m.Kind == KindError {
		return m, &RemoteError{Msg: m.Error}
	}
	return m, nil
}

// readLine reads one framed message; the end of the stream in the middle
// of a conversation is io.ErrUnexpectedEOF.
func (c *Conn) readLine() ([]byte, error) {
	line, err := c.r.ReadBytes('\n')
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	return line, err
}

// Expect reads one message and fails unless it is of kind k.
func (c *Conn) Expect(k Kind) (Message, error) {
	m, err := c.Recv()
	if err == nil && m.Kind != k {
		err = fmt.Errorf("protocol: got %q, want %q", m.Kind, k)
	}
	return m, err
}

// RemoteError is an error reported by the other side.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }
