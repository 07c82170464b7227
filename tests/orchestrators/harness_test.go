package orchestrators

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// imageRef is the tag of the busybox image every test loads, in full:
// ctr does not expand short names as docker does. pauseRef is the same
// layer with a command that waits for SIGTERM: a pod's sandbox.
const (
	imageRef = "docker.io/xrt-test/busybox:latest"
	pauseRef = "docker.io/xrt-test/pause:latest"
)

// bound is how long a daemon may take to start or stop, or a container to
// change state, before a test gives up: a bound against hangs, not a
// timing assertion.
const bound = 60 * time.Second

// xrtBinary is $XRT_BINARY as an absolute path; the test skips without it
// or without root.
func xrtBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("XRT_BINARY")
	if p == "" {
		t.Skip("XRT_BINARY is not set (make build && XRT_BINARY=$PWD/bin/xrt go test ./tests/orchestrators/)")
	}
	if os.Geteuid() != 0 {
		t.Skip("orchestrator tests run real containers: they need root")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("XRT_BINARY: %v", err)
	}
	return abs
}

// tool finds the first of paths that exists (an absolute path, or a name
// looked up in PATH), or skips naming the Debian package that brings it.
func tool(t *testing.T, pkg string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if filepath.IsAbs(p) {
			if _, err := os.Stat(p); err == nil {
				return p
			}
			continue
		}
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
	}
	t.Skipf("%s not found: install the Debian package %s", paths[0], pkg)
	return ""
}

// suffix is unique per test run, for names others on this machine could use.
func suffix() string {
	return strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + strconv.Itoa(os.Getpid())
}

// workDir makes the private directory a test keeps all its state in and
// registers the cleanup that takes everything away again: container
// processes (through xrt), daemon-spawned processes still naming the
// directory (shims), mounts under it, the cgroups named in cgroupParents,
// and the directory itself. Registered first, it runs last.
func workDir(t *testing.T, xrt string, cgroupParents ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "xrt-orch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		forceDeleteContainers(t, xrt, dir)
		killProcessesNaming(t, dir, false)
		unmountUnder(t, dir)
		for _, p := range cgroupParents {
			removeCgroups(t, p)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}

// loggingWrapper writes an executable that appends its arguments to a log,
// one call a line, and execs xrt: the test reads which runtime commands the
// orchestrator made, and that xrt (not runc) made them.
func loggingWrapper(t *testing.T, dir, xrt string) (wrapper, log string) {
	t.Helper()
	wrapper, log = filepath.Join(dir, "xrt-logged"), filepath.Join(dir, "xrt-calls.log")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >>%s\nexec %s \"$@\"\n", log, xrt)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return wrapper, log
}

// runtimeCalls reads the wrapper's log: each call's command name (the first
// argument that is not a global flag or its value) mapped to its count.
func runtimeCalls(t *testing.T, log string) (map[string]int, string) {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if cmd := commandOf(strings.Fields(line)); cmd != "" {
			calls[cmd]++
		}
	}
	return calls, string(b)
}

// commandOf picks the command out of a runc-style argument list.
func commandOf(args []string) string {
	withValue := map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case withValue[a]:
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

// requireCalls fails the test unless each command was made at least once.
func requireCalls(t *testing.T, log string, commands ...string) {
	t.Helper()
	calls, raw := runtimeCalls(t, log)
	for _, c := range commands {
		if calls[c] == 0 {
			t.Errorf("no `xrt %s` call; the runtime calls were:\n%s", c, raw)
		}
	}
}

// daemon is a daemon process a test started.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startDaemon starts argv with its output in dir/<name>.log, waits until
// ready says yes, and registers its stop. The daemon dies with the test
// binary (Pdeathsig), so a killed test leaves no daemon.
func startDaemon(t *testing.T, dir, name string, ready func() bool, argv ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	out, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = out, out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(d.stop)
	start := time.Now()
	deadline := start.Add(bound)
	for !ready() {
		select {
		case <-d.done:
			t.Fatalf("%s exited while starting: %s\n%s", name, d.cmd.ProcessState, d.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s:\n%s", name, bound, d.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s ready in %s", name, time.Since(start).Round(time.Millisecond))
	return d
}

// stop asks the daemon to shut down (SIGTERM), then kills it.
func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-d.done:
		return
	case <-time.After(bound / 4):
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}

// tail is the end of the daemon's log, for failure messages.
func (d *daemon) tail() string {
	b, _ := os.ReadFile(d.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// run runs a client command and returns its stdout; a non-zero exit fails
// the test with the command's output and the daemon's log.
func run(t *testing.T, d *daemon, argv ...string) string {
	t.Helper()
	out, code, stderr := runCode(t, argv...)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s\n%s log:\n%s", strings.Join(argv, " "), code, out, stderr, d.name, d.tail())
	}
	return out
}

// runCode runs a client command and returns stdout, the exit code and stderr.
func runCode(t *testing.T, argv ...string) (string, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0, stderr.String()
	case errors.As(err, &exit) && ctx.Err() == nil:
		return stdout.String(), exit.ExitCode(), stderr.String()
	default:
		t.Fatalf("%s: %v\nstderr: %s", strings.Join(argv, " "), err, stderr.String())
		return "", 0, ""
	}
}

// waitFor polls cond until it holds, failing after bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// socketReady says whether a unix socket accepts connections.
func socketReady(path string) func() bool {
	return func() bool {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return false
		}
		defer unix.Close(fd)
		return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) == nil
	}
}

// writeImage writes the archive of the busybox and pause images into dir.
func writeImage(t *testing.T, dir string) string {
	t.Helper()
	busybox := tool(t, "busybox-static", "/bin/busybox", "busybox")
	path := filepath.Join(dir, "busybox.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := BusyboxArchive(f, busybox, Image{imageRef, []string{"sh"}},
		Image{pauseRef, []string{"sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"}}); err != nil {
		t.Fatal(err)
	}
	return path
}

// xrtState returns the status xrt reports for id under root, or "" if xrt
// does not know the container.
func xrtState(t *testing.T, xrt, root, id string) string {
	t.Helper()
	out, code, _ := runCode(t, xrt, "--root", root, "state", id)
	if code != 0 {
		return ""
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && k == `"status"` {
			return strings.Trim(strings.TrimSpace(v), `",`)
		}
	}
	return ""
}

// cgroupDirs lists the directories of cgroup path p (such as /parent/id)
// that exist in any hierarchy under /sys/fs/cgroup.
func cgroupDirs(p string) []string {
	var found []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		hierarchies = []string{"/sys/fs/cgroup"} // pure v2
	}
	for _, h := range hierarchies {
		d := filepath.Join(h, p)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			found = append(found, d)
		}
	}
	return found
}

// requireGone fails unless xrt forgot the container and its cgroup is gone
// from every hierarchy: what delete must leave.
func requireGone(t *testing.T, xrt, root, id, cgroup string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("xrt state of %s still in %s (stat: %v)", id, root, err)
	}
	if dirs := cgroupDirs(cgroup); len(dirs) > 0 {
		t.Errorf("cgroup of %s left behind: %v", id, dirs)
	}
}

// forceDeleteContainers deletes, through xrt, every container whose state
// lies under dir: its processes are killed and its cgroups removed.
func forceDeleteContainers(t *testing.T, xrt, dir string) {
	_ = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() && isMountPoint(path) {
			return fs.SkipDir // a container's rootfs: nothing of xrt's inside
		}
		if e.Name() == "state.json" {
			cdir := filepath.Dir(path)
			out, err := exec.Command(xrt, "--root", filepath.Dir(cdir), "delete", "--force", filepath.Base(cdir)).CombinedOutput()
			if err != nil {
				t.Logf("cleanup: xrt delete --force %s: %v: %s", cdir, err, out)
			}
		}
		return nil
	})
}

func isMountPoint(path string) bool {
	mounted, err := mountinfo.Mounted(path)
	return err == nil && mounted
}

// killProcessesNaming kills the processes whose command line names dir:
// what the test's daemons started and left (shims), or with shimsOnly
// false, the daemons too. A killed shim's socket is removed.
func killProcessesNaming(t *testing.T, dir string, shimsOnly bool) {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	cmdlines := map[int][]byte{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(dir)) || (shimsOnly && shimSocketOf(b) == "") {
			continue
		}
		pids = append(pids, pid)
		cmdlines[pid] = b
	}
	var sockets []string
	for _, pid := range pids {
		name, _, _ := bytes.Cut(cmdlines[pid], []byte{0})
		t.Logf("cleanup: killing leftover process %d (%s)", pid, name)
		_ = unix.Kill(pid, unix.SIGKILL)
		if s := shimSocketOf(cmdlines[pid]); s != "" {
			sockets = append(sockets, s)
		}
	}
	for _, pid := range pids {
		deadline := time.Now().Add(bound / 4)
		for unix.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, s := range sockets {
		_ = os.Remove(s) // a killed shim cannot remove its socket
	}
}

// shimSocketOf is the socket of a containerd shim, from the -namespace, -id
// and -address of its command line ("" for another process).
func shimSocketOf(cmdline []byte) string {
	args := strings.Split(string(cmdline), "\x00")
	if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
		return ""
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			flags[strings.TrimLeft(args[i], "-")] = args[i+1]
		}
	}
	if flags["namespace"] == "" || flags["id"] == "" || flags["address"] == "" {
		return ""
	}
	return shimSocket(flags["address"], flags["namespace"], flags["id"])
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Errorf("cleanup: mount table: %v", err)
		return
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	for _, m := range mounts {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("cleanup: unmount %s: %v", m.Mountpoint, err)
		}
	}
}

// removeCgroups removes cgroup path p and everything below it in every
// hierarchy, deepest first.
func removeCgroups(t *testing.T, p string) {
	for _, top := range cgroupDirs(p) {
		var dirs []string
		_ = filepath.WalkDir(top, func(path string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("cleanup: cgroup %s: %v", dirs[i], err)
			}
		}
	}
}

// shimSocket is where containerd 1.6 puts the socket of the shim of
// namespace ns and container id when its own socket is address: a fixed
// directory, so a test removes what a killed shim left there.
func shimSocket(address, ns, id string) string {
	return fmt.Sprintf("/run/containerd/s/%x", sha256.Sum256([]byte(filepath.Join(address, ns, id))))
}

// leftOnHost records whether paths outside the test's directory that a
// daemon creates exist now, and registers their removal if they did not
// (files removed, directories only when empty, so a daemon someone else
// runs keeps its own).
func leftOnHost(t *testing.T, paths ...string) {
	var absent []string
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			absent = append(absent, p)
		}
	}
	t.Cleanup(func() {
		for _, p := range absent {
			fi, err := os.Lstat(p)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				_ = unix.Rmdir(p)
			} else {
				_ = os.Remove(p)
			}
		}
	})
}
