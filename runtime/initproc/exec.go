package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/caps"
	"github.com/xrt-dev/xrt/runtime/console"
	"github.com/xrt-dev/xrt/runtime/process"
)

// EnvExec, set to 1 by the runtime, makes `xrt init` the process of an
// `xrt exec` rather than a container's init.
const EnvExec = "_XRT_EXEC"

// ExecConfig is what `xrt exec` sends to the process it starts in a
// running container. By the time the Go runtime starts, the C constructor
// in package nsenter has joined every namespace of the container and
// forked into its pid namespace; what is left is per thread or needs the
// container's root: the cgroup, the terminal, and execProcess, the same
// confinement path as the container's init.
//
// It holds a Process, not a whole Spec: encoding/json builds a codec for
// every type a decoded type can reach, and the Spec's tree costs over a
// millisecond in a fresh process.
type ExecConfig struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`     // the process's own pid on the host
	InitPid     int               `json:"initPid"` // the container's init, for the seccomp agent's state
	Process     *rspec.Process    `json:"process"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Seccomp is the container's compiled filter (seccomp.Filter.MarshalBinary).
	Seccomp []byte `json:"seccomp,omitempty"`
	// ListenerMetadata is linux.seccomp.listenerMetadata, for the agent.
	ListenerMetadata string `json:"listenerMetadata,omitempty"`
	// PreserveFds counts the fds from 3 up that the process keeps.
	PreserveFds int `json:"preserveFds,omitempty"`
	// ConsoleFd is a connected unix socket to send the pty master on; 0 without a terminal.
	ConsoleFd int `json:"consoleFd,omitempty"`
	// CgroupFds are the container's cgroup v1 "tasks" files, opened by the
	// runtime on the host side: after joining the mount namespace their
	// paths are out of reach. Writing "0" moves the thread that will exec,
	// without the kernel's threadgroup lock (see enterCgroup).
	CgroupFds []int `json:"cgroupFds,omitempty"`
	// AgentFd, 0 without a seccomp agent, is a socket on which the runtime
	// sends its connection to linux.seccomp.listenerPath (a host path it
	// dials once config.json is read, while this process already starts).
	AgentFd int `json:"agentFd,omitempty"`
	// Chroot is set when the container shares the host's mount namespace:
	// its root is then Rootfs, entered with chroot as init did.
	Chroot bool `json:"chroot,omitempty"`
}

// execMessage is the line that carries an ExecConfig: Message's framing
// without its Config, whose Spec would cost the codecs described above.
type execMessage struct {
	Kind  Kind        `json:"type"`
	Error string      `json:"error,omitempty"`
	Exec  *ExecConfig `json:"exec,omitempty"`
}

// Reply is a message to the runtime decoded without Message's Config (see
// ExecConfig): what an exec waits for, a pid (from nsenter) or an error.
type Reply struct {
	Kind  Kind   `json:"type"`
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// RecvReply reads one message as a Reply. An error message is returned as
// a *RemoteError, the end of the stream as io.ErrUnexpectedEOF.
func (c *Conn) RecvReply() (Reply, error) {
	var m Reply
	line, err := c.readLine()
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("bad message from the exec child: %w", err)
	}
	if m.Kind == KindError {
		return m, &RemoteError{Msg: m.Error}
	}
	return m, nil
}

// SendExec sends the process of an exec to the child.
func (c *Conn) SendExec(cfg *ExecConfig) error {
	b, err := json.Marshal(execMessage{Kind: KindExec, Exec: cfg})
	if err != nil {
		return err
	}
	_, err = c.w.Write(append(b, '\n'))
	return err
}

func (c *Conn) recvExec() (*ExecConfig, error) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	var m execMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("bad message from the runtime: %w", err)
	}
	switch {
	case m.Kind == KindError:
		return nil, &RemoteError{Msg: m.Error}
	case m.Kind != KindExec || m.Exec == nil || m.Exec.Process == nil || len(m.Exec.Process.Args) == 0:
		return nil, fmt.Errorf("protocol: got %q, want a process to exec", m.Kind)
	}
	return m.Exec, nil
}

// runExec confines and execs the process of `xrt exec`. Errors go back to
// the runtime over the sync socket, which stays open (close-on-exec) until
// the execve: its end of file tells the runtime the program runs.
func runExec(conn *Conn) error {
	e, err := conn.recvExec()
	if err != nil {
		return err
	}
	if err := joinCgroupFds(e.CgroupFds); err != nil {
		return err
	}
	if e.Chroot {
		if err := unix.Chroot(e.Rootfs); err != nil {
			return fmt.Errorf("chroot %s: %w", e.Rootfs, err)
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
	}
	var agent *os.File
	if e.AgentFd > 0 {
		sock := os.NewFile(uintptr(e.AgentFd), "agent")
		agent, err = console.RecvFd(sock)
		sock.Close()
		if err != nil {
			return fmt.Errorf("receive the seccomp agent's connection: %w", err)
		}
		defer agent.Close()
	}
	if err := process.CloseExtraFDs(3 + e.PreserveFds); err != nil {
		return err
	}
	// execProcess takes a container's Config: this one is never encoded.
	cfg := &Config{ID: e.ID, Bundle: e.Bundle, Rootfs: e.Rootfs, Pid: e.InitPid, ProcessPid: e.Pid,
		PreserveFds: e.PreserveFds, ConsoleFd: e.ConsoleFd, Seccomp: e.Seccomp,
		Spec: &rspec.Spec{Process: e.Process, Annotations: e.Annotations}}
	if agent != nil {
		cfg.Spec.Linux = &rspec.Linux{Seccomp: &rspec.LinuxSeccomp{ListenerMetadata: e.ListenerMetadata}}
	}
	p := e.Process
	if p.Terminal {
		if err := setupTerminal(cfg, false); err != nil {
			return err
		}
	}
	if err := process.CheckCwd(p.Cwd); err != nil {
		return err
	}
	path, err := process.LookupEnvPath(p.Env, p.Args[0])
	if err != nil {
		return err
	}
	set, err := caps.Parse(p.Capabilities)
	if err != nil {
		return err
	}
	if err := set.Check(); err != nil {
		return err
	}
	return execProcess(cfg, path, set, agent)
}

// joinCgroupFds writes "0" to each open tasks file, then closes it.
func joinCgroupFds(fds []int) error {
	var errs []error
	for _, fd := range fds {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			errs = append(errs, fmt.Errorf("join the container's cgroup (fd %d): %w", fd, err))
		}
		unix.Close(fd)
	}
	return errors.Join(errs...)
}
