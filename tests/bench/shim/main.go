// Command shim measures xrt-shim beside its peers and prints the numbers
// of issue 4's note:
//
//   - idle memory: VmRSS (and PSS) of one shim supervising a `sleep`
//     container, beside containerd-shim-runc-v2 supervising the same
//     rootfs under a private containerd (`ctr run --rootfs`), when
//     containerd is installed; then the total of 100 idle shims.
//
//   - start overhead: xrt-shim + xrt starting busybox `true` and handing
//     its exit status to the caller (shim/client Start + Wait), beside
//     bare `xrt run`; runs alternate, medians and the ratio.
//
//   - log throughput: a container writing -mb MB of lines to stdout as
//     fast as it can, through the shim into its json-file log, beside
//     `xrt run ... > file`; and the shim's CPU time from /proc/PID/stat.
//
//     go run ./tests/bench/shim -xrt bin/xrt -shim bin/xrt-shim
//
// Everything lives in a private directory (-dir, tmpfs by default) with
// private runtime roots, and is removed at the end; run as root.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xrt-dev/xrt/shim/client"
)

var (
	xrtBin  = flag.String("xrt", "bin/xrt", "xrt binary")
	shimBin = flag.String("shim", "bin/xrt-shim", "xrt-shim binary")
	workDir = flag.String("dir", "/dev/shm", "directory for bundles, state and logs")
	runs    = flag.Int("n", 30, "measured starts per side")
	idle    = flag.Int("idle", 100, "idle containers for the total-memory figure")
	mb      = flag.Int("mb", 200, "MB written to stdout in the throughput test")
	logRuns = flag.Int("logruns", 3, "throughput runs per side (alternating; medians)")
	only    = flag.String("only", "", "run one part: rss, start, log")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type env struct {
	dir, bundle, rtRoot, shimRoot, xrt, shim string
	seq                                      int
}

func run() error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: it starts containers")
	}
	var e env
	var err error
	if e.xrt, err = filepath.Abs(*xrtBin); err != nil {
		return err
	}
	if e.shim, err = filepath.Abs(*shimBin); err != nil {
		return err
	}
	if e.dir, err = os.MkdirTemp(*workDir, "xrt-shim-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(e.dir)
	e.bundle = filepath.Join(e.dir, "bundle")
	e.rtRoot = filepath.Join(e.dir, "rt")
	e.shimRoot = filepath.Join(e.dir, "shims")
	os.MkdirAll(e.shimRoot, 0o700)
	if err := makeBundle(e.xrt, e.bundle); err != nil {
		return err
	}
	defer e.cleanupAll()
	fmt.Printf("xrt-shim %s (%d bytes), xrt %s\n\n", e.shim, fileSize(e.shim), e.xrt)
	parts := []struct {
		name string
		f    func(*env) error
	}{{"rss", idleMemory}, {"start", startOverhead}, {"log", logThroughput}}
	for _, p := range parts {
		if *only != "" && *only != p.name {
			continue
		}
		if err := p.f(&e); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Println()
	}
	return nil
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// makeBundle lays out a busybox rootfs and a config.json from `xrt spec`.
func makeBundle(xrt, dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "dev", "proc", "sys", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("the rootfs is made from Debian's busybox-static: %w", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, a := range []string{"sh", "sleep", "true", "yes", "head", "cat"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			return err
		}
	}
	if out, err := exec.Command(xrt, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("xrt spec: %v: %s", err, out)
	}
	return setArgs(dir, "true")
}

// setArgs rewrites the bundle's process args (and drops the terminal).
func setArgs(bundle string, args ...string) error {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return err
	}
	proc := spec["process"].(map[string]any)
	proc["args"] = args
	proc["terminal"] = false
	data, _ = json.Marshal(spec)
	return os.WriteFile(path, data, 0o644)
}

// startShim starts a container of the bundle under a new shim.
func (e *env) startShim(ctx context.Context, logPath string) (*client.Shim, string, error) {
	e.seq++
	id := fmt.Sprintf("shim-bench-%d-%d", os.Getpid(), e.seq)
	if logPath == "" {
		logPath = filepath.Join(e.dir, id+".log")
	}
	s, err := client.Start(ctx, client.Options{Binary: e.shim, ID: id, Bundle: e.bundle, Runtime: e.xrt,
		RuntimeRoot: e.rtRoot, StateDir: filepath.Join(e.shimRoot, id), LogPath: logPath})
	return s, id, err
}

// cleanupAll kills whatever containers and shims are left.
func (e *env) cleanupAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, _ := client.Recover(ctx, e.shimRoot)
	for _, r := range rec {
		if r.Shim != nil {
			r.Shim.Kill(ctx, syscall.SIGKILL, false)
			r.Shim.Wait(ctx)
		}
	}
	ents, _ := os.ReadDir(e.rtRoot)
	for _, d := range ents {
		exec.Command(e.xrt, "--root", e.rtRoot, "delete", "--force", d.Name()).Run()
	}
}

// status reads fields (kB values) of /proc/PID/status.
func status(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// pss reads the proportional set size (kB) of pid.
func pss(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func mib(kb int64) string { return fmt.Sprintf("%.2f MiB", float64(kb)/1024) }

func idleMemory(e *env) error {
	if err := setArgs(e.bundle, "sleep", "100000"); err != nil {
		return err
	}
	ctx := context.Background()
	s, _, err := e.startShim(ctx, "")
	if err != nil {
		return err
	}
	st, err := s.State(ctx)
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // let the start's garbage be collected
	fmt.Println("idle memory, one shim supervising `sleep`:")
	fmt.Printf("  xrt-shim                 VmRSS %s  (RssAnon %s, RssFile %s)  PSS %s  threads %d\n",
		mib(status(st.ShimPid, "VmRSS")), mib(status(st.ShimPid, "RssAnon")), mib(status(st.ShimPid, "RssFile")),
		mib(pss(st.ShimPid)), status(st.ShimPid, "Threads"))
	if rss, err := containerdShimRSS(e); err != nil {
		fmt.Printf("  containerd-shim-runc-v2  not measured (%v); the issue quotes 13.3 MB\n", err)
	} else {
		fmt.Printf("  containerd-shim-runc-v2  VmRSS %s  PSS %s  (same rootfs, private containerd, runc)\n", mib(rss[0]), mib(rss[1]))
	}
	s.Kill(ctx, syscall.SIGKILL, false)
	s.Wait(ctx)

	// Many idle containers.
	var shims []*client.Shim
	for i := 0; i < *idle; i++ {
		s, _, err := e.startShim(ctx, "")
		if err != nil {
			return fmt.Errorf("container %d: %w", i, err)
		}
		shims = append(shims, s)
	}
	time.Sleep(time.Second)
	var rss, pssSum, maxRSS int64
	for _, s := range shims {
		st, err := s.State(ctx)
		if err != nil {
			return err
		}
		r := status(st.ShimPid, "VmRSS")
		rss += r
		pssSum += pss(st.ShimPid)
		maxRSS = max(maxRSS, r)
	}
	fmt.Printf("%d idle containers: shims' VmRSS total %s (max %s), PSS total %s (binary pages shared: the memory they really take)\n",
		*idle, mib(rss), mib(maxRSS), mib(pssSum))
	for _, s := range shims {
		s.Kill(ctx, syscall.SIGKILL, false)
	}
	for _, s := range shims {
		s.Wait(ctx)
	}
	return nil
}

// containerdShimRSS runs the bundle's rootfs under a private containerd
// with `ctr run --rootfs` and reads its shim's memory.
func containerdShimRSS(e *env) ([2]int64, error) {
	var out [2]int64
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return out, err
	}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		return out, err
	}
	dir := filepath.Join(e.dir, "containerd")
	os.MkdirAll(dir, 0o700)
	address := filepath.Join(dir, "c.sock")
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), address, address+".ttrpc")
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return out, err
	}
	// containerd 1.6 keeps shim sockets, fifos and runc's root in fixed
	// places under /run/containerd: remove what this run adds there
	// (directories only when empty: a containerd someone else runs keeps its own).
	ns := fmt.Sprintf("xrt-shim-bench-%d", os.Getpid())
	var made []string
	for _, p := range []string{"/run/containerd", "/run/containerd/s", "/run/containerd/fifo",
		"/run/containerd/runc", "/run/containerd/runc/" + ns} {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			made = append(made, p)
		}
	}
	defer func() {
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i])
		}
		// runc removes the container's cgroup, not the namespace's parent one.
		parents, _ := filepath.Glob("/sys/fs/cgroup/*/" + ns)
		for _, p := range parents {
			os.Remove(p)
		}
	}()
	daemon := exec.Command(bin, "--config", cfg, "--log-level", "error")
	if err := daemon.Start(); err != nil {
		return out, err
	}
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
	}()
	c := func(args ...string) ([]byte, error) {
		return exec.Command(ctr, append([]string{"--address", address, "--namespace", ns}, args...)...).CombinedOutput()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return out, errors.New("containerd did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	id := "shim-bench-ctr"
	if o, err := c("run", "-d", "--rootfs", filepath.Join(e.bundle, "rootfs"), id, "/bin/sleep", "100000"); err != nil {
		return out, fmt.Errorf("ctr run: %v: %s", err, o)
	}
	defer func() {
		c("task", "kill", "-s", "SIGKILL", id)
		for i := 0; i < 100; i++ {
			if _, err := c("task", "delete", id); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		c("container", "delete", id)
	}()
	time.Sleep(500 * time.Millisecond)
	pids, _ := exec.Command("pgrep", "-f", "containerd-shim-runc-v2 -namespace "+ns).Output()
	f := strings.Fields(string(pids))
	if len(f) == 0 {
		return out, errors.New("no containerd-shim-runc-v2 found for the namespace")
	}
	pid, _ := strconv.Atoi(f[0])
	return [2]int64{status(pid, "VmRSS"), pss(pid)}, nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func startOverhead(e *env) error {
	if err := setArgs(e.bundle, "true"); err != nil {
		return err
	}
	ctx := context.Background()
	var shimT, shimGoneT, bareT []time.Duration
	for i := -3; i < *runs; i++ {
		t0 := time.Now()
		s, id, err := e.startShim(ctx, "")
		if err != nil {
			return err
		}
		ex, err := s.Wait(ctx)
		if err != nil || ex.ExitCode != 0 {
			return fmt.Errorf("shim run: %+v, %v", ex, err)
		}
		d := time.Since(t0)
		// The shim removes the container and exits after Wait: time that too,
		// so the next run does not overlap it.
		for {
			if _, err := os.Stat(filepath.Join(e.shimRoot, id, "shim.sock")); os.IsNotExist(err) {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		dGone := time.Since(t0)

		t0 = time.Now()
		bare := exec.Command(e.xrt, "--root", e.rtRoot, "run", "--bundle", e.bundle, fmt.Sprintf("shim-bench-bare-%d", i+10))
		if out, err := bare.CombinedOutput(); err != nil {
			return fmt.Errorf("xrt run: %v: %s", err, out)
		}
		dBare := time.Since(t0)
		if i >= 0 {
			shimT, shimGoneT, bareT = append(shimT, d), append(shimGoneT, dGone), append(bareT, dBare)
		}
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("start overhead, busybox `true`, median of %d (alternating):\n", *runs)
	fmt.Printf("  bare `xrt run`                                   %s\n", ms(median(bareT)))
	fmt.Printf("  xrt-shim + xrt: Start and Wait (status in hand)  %s  = %.2fx\n", ms(median(shimT)), float64(median(shimT))/float64(median(bareT)))
	fmt.Printf("  ... until the shim deleted the container, exited %s  = %.2fx\n", ms(median(shimGoneT)), float64(median(shimGoneT))/float64(median(bareT)))
	return nil
}

// cpuTicks reads utime+stime of pid in clock ticks.
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func logThroughput(e *env) error {
	line := strings.Repeat("0123456789", 9) // with the newline: 91 bytes a line
	bytesOut := int64(*mb) * 1000 * 1000
	if err := setArgs(e.bundle, "sh", "-c", fmt.Sprintf("yes %s | head -c %d", line, bytesOut)); err != nil {
		return err
	}
	var bareT, shimT, cpuT []time.Duration
	var hwm, logSize int64
	for i := 0; i < *logRuns; i++ {
		d, err := e.logBare(bytesOut, i)
		if err != nil {
			return err
		}
		bareT = append(bareT, d)
		d, cpu, h, size, err := e.logShim()
		if err != nil {
			return err
		}
		shimT, cpuT = append(shimT, d), append(cpuT, cpu)
		hwm, logSize = max(hwm, h), size
	}
	dBare, dShim, cpu := median(bareT), median(shimT), median(cpuT)
	fmt.Printf("log throughput, %d MB of %d-byte lines to stdout, median of %d (alternating):\n", *mb, len(line)+1, *logRuns)
	fmt.Printf("  `xrt run > file`            %.2f s  (%.0f MB/s)\n", dBare.Seconds(), float64(bytesOut)/1e6/dBare.Seconds())
	fmt.Printf("  through xrt-shim to the log %.2f s  (%.0f MB/s)  = %.2fx; json-file log %d MB\n",
		dShim.Seconds(), float64(bytesOut)/1e6/dShim.Seconds(), dShim.Seconds()/dBare.Seconds(), logSize/1000/1000)
	fmt.Printf("  shim CPU time %.2f s = %.0f%% of one core over the run; peak RSS (VmHWM) %s\n",
		cpu.Seconds(), 100*cpu.Seconds()/dShim.Seconds(), mib(hwm))
	return nil
}

// logBare runs the writer with `xrt run`, stdout to a file.
func (e *env) logBare(bytesOut int64, i int) (time.Duration, error) {
	out := filepath.Join(e.dir, "bare.out")
	defer os.Remove(out)
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	bare := exec.Command(e.xrt, "--root", e.rtRoot, "run", "--bundle", e.bundle, fmt.Sprintf("shim-bench-bare-log-%d", i))
	bare.Stdout = f
	err = bare.Run()
	f.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("xrt run: %w", err)
	}
	if n := fileSize(out); n != bytesOut {
		return 0, fmt.Errorf("xrt run wrote %d bytes, want %d", n, bytesOut)
	}
	return d, nil
}

// logShim runs the writer under a shim and returns the time to its exit
// status, the shim's CPU time and peak RSS, and the log's size.
func (e *env) logShim() (d, cpu time.Duration, hwm, size int64, err error) {
	ctx := context.Background()
	logPath := filepath.Join(e.dir, "through-shim.log")
	defer os.Remove(logPath)
	t0 := time.Now()
	s, _, err := e.startShim(ctx, logPath)
	if err != nil {
		return
	}
	st, err := s.State(ctx)
	if err != nil {
		return
	}
	// Poll the state rather than Wait, to read the shim's CPU time before it exits.
	for st.Status != "stopped" {
		time.Sleep(2 * time.Millisecond)
		if st, err = s.State(ctx); err != nil {
			return
		}
	}
	d = time.Since(t0)
	cpu = time.Duration(cpuTicks(st.ShimPid)) * time.Second / 100 // USER_HZ
	hwm = status(st.ShimPid, "VmHWM")
	if _, err = s.Wait(ctx); err != nil {
		return
	}
	size = fileSize(logPath)
	return
}
