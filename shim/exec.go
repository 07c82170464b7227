package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/xrt-dev/xrt/shim/proto"
	"github.com/xrt-dev/xrt/shim/reaper"
)

// execProcess runs a new process in the container through `runtime exec
// --detach`, and streams its stdio over c until it exits; the last frame
// is its exit status. Its output goes to this client only, not to the log
// (as with docker exec).
func (s *Shim) execProcess(c *os.File, req proto.Fields) {
	s.streams.Add(1)
	defer s.streams.Done()
	defer c.Close()
	select {
	case <-s.exited:
		respondErr(c, errExited)
		return
	default:
	}
	process := req.Get("process")
	if process == "" {
		respondErr(c, errors.New("exec: the process (OCI process JSON) is required"))
		return
	}
	s.execMu.Lock()
	s.execSeq++
	n := strconv.FormatInt(s.execSeq, 10)
	s.execMu.Unlock()
	base := filepath.Join(s.cfg.StateDir, "exec-"+n)
	procFile, pidFile := base+".json", base+".pid"
	defer os.Remove(procFile)
	defer os.Remove(pidFile)
	if err := os.WriteFile(procFile, []byte(process), 0o600); err != nil {
		respondErr(c, errors.New("exec: "+err.Error()))
		return
	}
	terminal := req.Bool("terminal")
	io, err := newStdio(terminal, req.Bool("stdin"), s.cfg.StateDir, "exec-"+n+".sock")
	if err != nil {
		respondErr(c, err)
		return
	}
	defer io.closeAll()
	if err := s.rt.Exec(s.cfg.ID, procFile, pidFile, io.socketPath, io.child()); err != nil {
		respondErr(c, err)
		return
	}
	if err := io.afterCreate(); err != nil {
		if pid, perr := readPid(pidFile); perr == nil {
			syscall.Kill(pid, syscall.SIGKILL) // it runs, but its terminal was lost
		}
		respondErr(c, err)
		return
	}
	pid, err := readPid(pidFile)
	if err != nil {
		respondErr(c, err)
		return
	}
	exited := s.reaper.Watch(pid)
	var f proto.Fields
	f.SetInt("pid", int64(pid))
	respond(c, f)

	// Output: written straight to the client; when it is gone, read and
	// dropped, so the process never blocks on it.
	var wmu sync.Mutex
	ok := true
	write := func(kind byte, p []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		if ok && proto.WriteFrame(c, kind, p) != nil {
			ok = false
		}
	}
	var outputs sync.WaitGroup
	copyTo := func(r *os.File, kind byte) {
		defer outputs.Done()
		buf := make([]byte, copyBuf)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				write(kind, buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	if io.console != nil {
		outputs.Add(1)
		go copyTo(io.console, proto.KindStdout)
	} else {
		outputs.Add(2)
		go copyTo(io.stdout, proto.KindStdout)
		go copyTo(io.stderr, proto.KindStderr)
	}
	go func() { // the client's input, until the connection closes
		var stdinMu sync.Mutex
		var buf []byte
		for {
			kind, payload, nb, err := proto.ReadFrame(c, buf)
			buf = nb
			if err != nil {
				return
			}
			stdinMu.Lock()
			switch kind {
			case proto.KindStdin:
				if io.stdin != nil {
					io.stdin.Write(payload)
				}
			case proto.KindClose:
				if io.stdin != nil && io.stdin != io.console {
					io.stdin.Close()
				} else if io.console != nil {
					io.console.Write([]byte{4})
				}
			case proto.KindResize:
				resizeFields(io.console, payload)
			}
			stdinMu.Unlock()
		}
	}()

	ws := <-exited
	done := make(chan struct{})
	go func() { outputs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
	}
	var ef proto.Fields
	ef.SetInt(proto.FieldExitCode, int64(reaper.ExitCode(ws)))
	if ws.Signaled() {
		ef.SetInt(proto.FieldSignal, int64(ws.Signal()))
	}
	ef.Set(proto.FieldExitedAt, time.Now().UTC().Format(time.RFC3339Nano))
	write(proto.KindExit, ef.Marshal())
}
