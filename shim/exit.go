package shim

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/shim/proto"
	"github.com/xrt-dev/xrt/shim/reaper"
)

// exitStatus is how the container's init ended.
type exitStatus struct {
	Code   int // 128+N when killed by signal N
	Signal int // 0 unless killed by a signal
	At     time.Time
	OOM    bool
}

func (e exitStatus) fields(f *proto.Fields) {
	f.SetInt(proto.FieldExitCode, int64(e.Code))
	if e.Signal != 0 {
		f.SetInt(proto.FieldSignal, int64(e.Signal))
	}
	f.Set(proto.FieldExitedAt, e.At.UTC().Format(time.RFC3339Nano))
	f.SetBool(proto.FieldOOMKilled, e.OOM)
}

// exitWith records the exit of the container's init: once its output is
// drained, it writes exit.json and wakes every waiter.
func (s *Shim) exitWith(ws unix.WaitStatus) {
	e := exitStatus{Code: reaper.ExitCode(ws), At: time.Now()}
	if ws.Signaled() {
		e.Signal = int(ws.Signal())
	}
	e.OOM = s.oomCG != "" && oomKills(s.oomCG) > 0

	// Held output is released by the attach it waits for; count the
	// drain from then.
	<-s.held
	drained := make(chan struct{})
	go func() { s.outputs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		s.noteErr("output still open " + drainTimeout.String() + " after the container exited; not waiting for it")
	}
	s.exit = e
	if err := writeAtomic(filepath.Join(s.cfg.StateDir, ExitName), e.json(s.cfg.ID, s.pid)); err != nil {
		s.noteErr(err.Error())
	}
	close(s.exited)
	var f proto.Fields
	e.fields(&f)
	s.hub.finishAll(proto.KindExit, f.Marshal())
	go s.closeStdin() // in the background: a writer blocked on a full pipe holds its lock
}

func (e exitStatus) json(id string, pid int) []byte {
	b := []byte(`{"id":"` + id + `","pid":`) // ids are checked: no escaping needed
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, `,"exit_code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"signal":`...)
	b = strconv.AppendInt(b, int64(e.Signal), 10)
	b = append(b, `,"exited_at":"`...)
	b = e.At.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","oom_killed":`...)
	b = strconv.AppendBool(b, e.OOM)
	return append(b, "}\n"...)
}

// oomCounter finds the file that counts OOM kills in the memory cgroup of
// pid: memory.oom_control (cgroup v1) or memory.events (v2). "" when
// there is none.
func oomCounter(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	var v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" && parts[0] == "0" {
			v2 = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				p := filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control")
				if _, err := os.Stat(p); err == nil {
					return p
				}
			}
		}
	}
	if v2 != "" {
		for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
			p := filepath.Join(root, v2, "memory.events")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

// oomKills reads the oom_kill count from a memory.oom_control or
// memory.events file.
func oomKills(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
