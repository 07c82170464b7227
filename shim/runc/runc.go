// Package runc runs an OCI runtime through runc's command line: xrt, runc,
// crun or any other binary that takes the same commands and flags. It
// starts each command through the shim's reaper, since the shim reaps all
// of its children itself.
package runc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/shim/reaper"
)

// Runtime is one runtime binary with its state root.
type Runtime struct {
	Binary string // absolute path
	Root   string // --root; "" leaves the runtime's default
	Log    string // --log (json format); "" leaves it out
	Reaper *reaper.Reaper
}

// Stdio are the files a runtime command hands down to the container (for
// create and exec); nil entries become /dev/null.
type Stdio struct{ In, Out, Err *os.File }

// Create runs `create --bundle B --pid-file P [--console-socket S] ID`
// with the container's stdio.
func (r *Runtime) Create(id, bundle, pidFile, consoleSocket string, io Stdio) error {
	args := []string{"create", "--bundle", bundle, "--pid-file", pidFile}
	if consoleSocket != "" {
		args = append(args, "--console-socket", consoleSocket)
	}
	return r.run(append(args, id), io, false)
}

// RunDetached runs `run --detach --bundle B --pid-file P [--console-socket S]
// ID`: create and start in one runtime process, which saves a whole
// runtime start (a few ms) over Create then Start.
func (r *Runtime) RunDetached(id, bundle, pidFile, consoleSocket string, io Stdio) error {
	args := []string{"run", "--detach", "--bundle", bundle, "--pid-file", pidFile}
	if consoleSocket != "" {
		args = append(args, "--console-socket", consoleSocket)
	}
	return r.run(append(args, id), io, false)
}

// Start runs `start ID`.
func (r *Runtime) Start(id string) error { return r.run([]string{"start", id}, Stdio{}, true) }

// Kill runs `kill [--all] ID SIGNAL`.
func (r *Runtime) Kill(id string, sig int, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	return r.run(append(args, id, strconv.Itoa(sig)), Stdio{}, true)
}

// Delete runs `delete --force ID`.
func (r *Runtime) Delete(id string) error {
	return r.run([]string{"delete", "--force", id}, Stdio{}, true)
}

// Exec runs `exec --process F --detach --pid-file P [--console-socket S] ID`;
// the new process inherits io.
func (r *Runtime) Exec(id, processFile, pidFile, consoleSocket string, io Stdio) error {
	args := []string{"exec", "--process", processFile, "--detach", "--pid-file", pidFile}
	if consoleSocket != "" {
		args = append(args, "--console-socket", consoleSocket)
	}
	return r.run(append(args, id), io, false)
}

// run runs the runtime with args and waits for it. captureStderr collects
// its stderr for the error message; otherwise stderr is io.Err (the
// container's), and the message comes from the --log file.
func (r *Runtime) run(args []string, io Stdio, captureStderr bool) error {
	argv := []string{r.Binary}
	if r.Root != "" {
		argv = append(argv, "--root", r.Root)
	}
	if r.Log != "" {
		argv = append(argv, "--log", r.Log, "--log-format", "json")
	}
	argv = append(argv, args...)

	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	files := []uintptr{null.Fd(), null.Fd(), null.Fd()}
	for i, f := range []*os.File{io.In, io.Out, io.Err} {
		if f != nil {
			files[i] = f.Fd()
		}
	}
	var errR, errW *os.File
	if captureStderr {
		if errR, errW, err = os.Pipe(); err != nil {
			return err
		}
		defer errR.Close()
		files[2] = errW.Fd()
	}
	var logStart int64
	if r.Log != "" {
		if st, err := os.Stat(r.Log); err == nil {
			logStart = st.Size()
		}
	}
	_, done, err := r.Reaper.Start(argv, &syscall.ProcAttr{Files: files, Env: runtimeEnv()})
	if errW != nil {
		errW.Close()
	}
	if err != nil {
		return err
	}
	var stderr []byte
	if errR != nil {
		stderr = readAtMost(errR, 4096)
	}
	ws := <-done
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	msg := strings.TrimSpace(string(stderr))
	if msg == "" {
		msg = lastLogError(r.Log, logStart)
	}
	if msg == "" {
		msg = exitText(ws)
	}
	return errors.New(baseName(r.Binary) + " " + args[0] + ": " + msg)
}

func runtimeEnv() []string {
	if p := os.Getenv("PATH"); p != "" {
		return []string{"PATH=" + p}
	}
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
}

func readAtMost(f *os.File, n int) []byte {
	buf := make([]byte, 0, 512)
	tmp := make([]byte, 512)
	for {
		k, err := f.Read(tmp)
		if len(buf) < n {
			buf = append(buf, tmp[:min(k, n-len(buf))]...)
		}
		if err != nil {
			return buf
		}
	}
}

func exitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by signal " + strconv.Itoa(int(ws.Signal()))
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// lastLogError returns the msg of the last error line the runtime wrote to
// its json log after offset from.
func lastLogError(path string, from int64) string {
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) < from {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(data[from:]), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if !bytes.Contains(l, []byte(`"level":"error"`)) && !bytes.Contains(l, []byte(`"level":"fatal"`)) {
			continue
		}
		if m, ok := JSONField(l, "msg"); ok {
			return m
		}
	}
	return ""
}

// JSONField extracts the string value of key from one flat JSON object
// line, without encoding/json (the shim avoids it to stay small).
func JSONField(line []byte, key string) (string, bool) {
	i := bytes.Index(line, []byte(`"`+key+`":"`))
	if i < 0 {
		return "", false
	}
	s := line[i+len(key)+4:]
	var out []byte
	for j := 0; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '"':
			return string(out), true
		case c == '\\' && j+1 < len(s):
			j++
			switch s[j] {
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			case 'r':
				out = append(out, '\r')
			case 'u':
				if j+4 < len(s) {
					if v, err := strconv.ParseUint(string(s[j+1:j+5]), 16, 32); err == nil {
						out = append(out, string(rune(v))...)
						j += 4
						continue
					}
				}
				out = append(out, '?')
			default:
				out = append(out, s[j])
			}
		default:
			out = append(out, c)
		}
	}
	return "", false
}
