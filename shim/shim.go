package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xrt-dev/xrt/shim/logfile"
	"github.com/xrt-dev/xrt/shim/reaper"
	"github.com/xrt-dev/xrt/shim/runc"
)

// drainTimeout bounds the wait for a process's output to end after it
// exited: a process that escaped the container may hold the pipe open.
const drainTimeout = 2 * time.Second

// Shim supervises one container.
type Shim struct {
	cfg    Config
	rt     *runc.Runtime
	reaper *reaper.Reaper
	log    *logfile.Writer
	pid    int    // the container's init
	oomCG  string // the cgroup file that counts OOM kills, when found

	stdinMu sync.Mutex
	stdin   *os.File // our end of the container's stdin: a pipe or the pty master; nil when closed
	console *os.File // the pty master when the container has a terminal

	hub     hub
	outputs sync.WaitGroup // the copiers of the container's output
	// held is open while the output is held (Config.HoldOutput); the
	// first attach closes it.
	held     chan struct{}
	holdOnce sync.Once

	exited    chan struct{} // closed once exit is set and written
	exit      exitStatus
	collected chan struct{} // closed when a client received the exit status
	collect   sync.Once
	deleted   chan struct{} // closed once the runtime deleted the exited container
	deleteErr error         // the runtime's delete failed; set before deleted closes
	stop      chan struct{} // closed by a shutdown request
	stopOnce  sync.Once

	execSeq int64
	execMu  sync.Mutex

	// streams counts attach writers and exec streams, so that the shim
	// does not exit under a client still being sent its last frames.
	streams sync.WaitGroup
}

// Report is how Run tells its caller the outcome of the start: the pid of
// the container's init, or why it could not run.
type Report func(pid int, err error)

// Run creates and starts the container, reports, then supervises it until
// it exited and its status was collected (or the exit timeout passed). The
// config must have been validated.
func Run(cfg Config, report Report) error {
	s := &Shim{cfg: cfg, exited: make(chan struct{}), collected: make(chan struct{}),
		deleted: make(chan struct{}), stop: make(chan struct{}), held: make(chan struct{})}
	if cfg.HoldOutput <= 0 {
		s.release()
	}
	err := s.start()
	if err != nil {
		report(0, err)
		return err
	}
	report(s.pid, nil)
	s.supervise()
	return nil
}

// start does everything up to a running container; on error it leaves
// nothing behind that it made.
func (s *Shim) start() (err error) {
	cfg := s.cfg
	r, err := reaper.New()
	if err != nil {
		return err
	}
	s.reaper = r
	madeStateDir := false
	if _, serr := os.Stat(cfg.StateDir); os.IsNotExist(serr) {
		madeStateDir = true
	}
	if alive(filepath.Join(cfg.StateDir, SocketName)) {
		return errors.New("a shim already runs in " + cfg.StateDir)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return errors.New("state directory: " + err.Error())
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			if madeStateDir {
				os.RemoveAll(cfg.StateDir)
			}
		}
	}()
	s.rt = &runc.Runtime{Binary: cfg.Runtime, Root: cfg.RuntimeRoot,
		Log: filepath.Join(cfg.StateDir, RuntimeLogName), Reaper: r}

	_, logErr := os.Stat(cfg.LogPath)
	s.log, err = logfile.Open(cfg.LogPath, cfg.LogMaxSize, cfg.LogMaxFile)
	if err != nil {
		return errors.New("log file " + cfg.LogPath + ": " + errText(err))
	}
	undo = append(undo, func() {
		s.log.Close()
		if os.IsNotExist(logErr) {
			os.Remove(cfg.LogPath)
		}
	})

	ln, err := listenUnix(filepath.Join(cfg.StateDir, SocketName))
	if err != nil {
		return errors.New("control socket: " + err.Error())
	}
	undo = append(undo, func() { ln.Close(); os.Remove(filepath.Join(cfg.StateDir, SocketName)) })

	io, err := newStdio(cfg.Terminal, cfg.Stdin, cfg.StateDir, "console.sock")
	if err != nil {
		return err
	}
	undo = append(undo, io.closeAll)

	pidFile := filepath.Join(cfg.StateDir, PidName)
	undo = append(undo, func() { os.Remove(pidFile) })
	if err := s.rt.RunDetached(cfg.ID, cfg.Bundle, pidFile, io.socketPath, io.child()); err != nil {
		s.rt.Delete(cfg.ID) // a runtime may leave a created container behind
		return err
	}
	undo = append(undo, func() { s.rt.Delete(cfg.ID) })
	s.pid, err = readPid(pidFile)
	if err != nil {
		return err
	}
	// Read at once: a process that ends within microseconds may be reaped
	// (and its cgroup gone) before this, and is then not checked for OOM.
	s.oomCG = oomCounter(s.pid)
	initExit := s.reaper.Watch(s.pid)
	if err := io.afterCreate(); err != nil {
		return err
	}
	s.stdin, s.console = io.stdin, io.console
	s.startOutput(io)
	if cfg.HoldOutput > 0 {
		time.AfterFunc(cfg.HoldOutput, s.release)
	}
	if err := s.writeInfo(); err != nil {
		return err
	}
	go s.serve(ln)
	go func() {
		ws := <-initExit
		s.exitWith(ws)
	}()
	return nil
}

// supervise waits for the container's exit, records it, removes the
// container from the runtime and lingers until the status is collected.
func (s *Shim) supervise() {
	<-s.exited
	if err := s.rt.Delete(s.cfg.ID); err != nil {
		s.noteErr("delete: " + err.Error())
		s.deleteErr = err
	}
	close(s.deleted)
	// Once the status is collected the shim may go, unless the delete
	// failed: then it stays to tell whoever shuts it down.
	collected := s.collected
	if s.deleteErr != nil {
		collected = nil
	}
	t := time.NewTimer(s.cfg.ExitTimeout)
	select {
	case <-collected:
	case <-s.stop:
	case <-t.C:
	}
	os.Remove(filepath.Join(s.cfg.StateDir, SocketName))
	s.log.Close()
	done := make(chan struct{})
	go func() { s.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
	}
}

// noteErr records a problem of the shim itself where a user will look: in
// the container's log, as a stderr line.
func (s *Shim) noteErr(msg string) {
	st := s.log.Stream("stderr")
	st.Write([]byte("xrt-shim: " + msg + "\n"))
}

func readPid(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, errors.New("pid file: " + err.Error())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, errors.New("pid file " + path + ": not a pid: " + strconv.Quote(string(data)))
	}
	return pid, nil
}

// writeInfo writes shim.json: what this shim supervises, for recovery and
// for people.
func (s *Shim) writeInfo() error {
	c := s.cfg
	b := []byte(`{"version":1,"id":`)
	b = logfile.AppendString(b, c.ID)
	b = append(b, `,"shim_pid":`...)
	b = strconv.AppendInt(b, int64(os.Getpid()), 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(s.pid), 10)
	for _, kv := range [][2]string{{"bundle", c.Bundle}, {"runtime", c.Runtime},
		{"runtime_root", c.RuntimeRoot}, {"log_path", c.LogPath}} {
		b = append(b, `,"`+kv[0]+`":`...)
		b = logfile.AppendString(b, kv[1])
	}
	b = append(b, `,"terminal":`...)
	b = strconv.AppendBool(b, c.Terminal)
	b = append(b, `,"stdin":`...)
	b = strconv.AppendBool(b, c.Stdin)
	b = append(b, `,"started_at":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	return writeAtomic(filepath.Join(c.StateDir, InfoName), b)
}

// writeAtomic writes data to path through a temporary file, fsync and
// rename, so a reader sees the old file or the whole new one.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return errors.New("write " + path + ": " + err.Error())
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
