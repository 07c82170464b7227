// Command pull measures image pulls side by side: xmgr's registry package,
// Docker 20.10 (Debian's dockerd, started here with private directories)
// and skopeo copy to an OCI directory (which does not unpack), all from one
// Debian docker-registry on 127.0.0.1 holding a five-layer image of about
// 120 MB compressed: random data, text, and a layer of 10,000 small files.
// It prints each tool's median time, the ratios to docker, and the time of
// a second pull of an image already held.
//
//	go run ./tests/bench/pull [-runs 3] [-parallel 3] [-skip-docker]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/pgzip"
	digest "github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/registry"
	"github.com/xrt-dev/xrt/manager/snapshots"
	"github.com/xrt-dev/xrt/tests/registry/regtest"
)

const repo = "bench/pull"

var (
	cpuTimes = map[string][]time.Duration{}
	peakRSS  = map[string]int64{}
	xmgrBin  string
	verbose  bool
	profile  *os.File
)

// timeline prints each status event (not byte counts) with the time since
// the pull started, to see where a pull spends its time.
type timeline struct{ start time.Time }

func (t timeline) Send(e progress.Event) {
	if e.Current == 0 {
		fmt.Printf("  %8v %s %s%s\n", time.Since(t.start).Round(time.Millisecond), e.ID, e.Status, e.Error)
	}
}

func main() {
	runs := flag.Int("runs", 3, "pulls per tool (the median is reported)")
	parallel := flag.Int("parallel", registry.DefaultParallel, "layers xmgr fetches at once")
	skipDocker := flag.Bool("skip-docker", false, "do not start dockerd")
	flag.StringVar(&xmgrBin, "xmgr", "", "also time `xmgr pull` through this xmgr binary (its daemon started here with private roots)")
	workRoot := flag.String("dir", "/var/tmp", "where the temporary data roots go (a disk, not tmpfs)")
	flag.BoolVar(&verbose, "v", false, "print xmgr's progress events with their times")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the xmgr pulls to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			profile = f
			defer f.Close()
		}
	}
	if err := run(*runs, *parallel, *skipDocker, *workRoot); err != nil {
		fmt.Fprintln(os.Stderr, "pull bench:", err)
		os.Exit(1)
	}
}

func run(runs, parallel int, skipDocker bool, workRoot string) error {
	work, err := os.MkdirTemp(workRoot, "xmgr-pull-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	srv, err := regtest.Start(work, regtest.Options{})
	if err != nil {
		return err
	}
	defer srv.Stop()

	t0 := time.Now()
	img, err := buildImage()
	if err != nil {
		return err
	}
	var total int64
	for _, l := range img.Layers {
		total += int64(len(l.Blob))
	}
	if err := (&regtest.Client{Host: srv.Host}).Push(repo, "1", img); err != nil {
		return err
	}
	ref := srv.Host + "/" + repo + ":1"
	fmt.Printf("image %s: %d layers, %.1f MB compressed (built and pushed in %v)\n",
		ref, len(img.Layers), float64(total)/1e6, time.Since(t0).Round(time.Millisecond))

	results := map[string]time.Duration{}
	var second time.Duration

	// xmgr: a fresh data root per run; the second pull on the last one.
	var xs []time.Duration
	for i := 0; i < runs; i++ {
		st, err := newStack(filepath.Join(work, fmt.Sprintf("xmgr-%d", i)), parallel)
		if err != nil {
			return err
		}
		dropCaches()
		if profile != nil {
			pprof.StartCPUProfile(profile)
		}
		cpu0 := selfCPU()
		start := time.Now()
		var sink progress.Sink = progress.Discard
		if verbose {
			sink = timeline{start}
		}
		if _, err := st.reg.Pull(context.Background(), ref, nil, sink); err != nil {
			return fmt.Errorf("xmgr pull: %w", err)
		}
		xs = append(xs, time.Since(start))
		cpuTimes["xmgr pull"] = append(cpuTimes["xmgr pull"], selfCPU()-cpu0)
		if profile != nil {
			pprof.StopCPUProfile()
			profile = nil
		}
		if i == runs-1 {
			var ss []time.Duration
			for j := 0; j < 5; j++ {
				start = time.Now()
				if _, err := st.reg.Pull(context.Background(), ref, nil, nil); err != nil {
					return fmt.Errorf("xmgr second pull: %w", err)
				}
				ss = append(ss, time.Since(start))
			}
			second = median(ss)
		}
		st.close()
		os.RemoveAll(filepath.Join(work, fmt.Sprintf("xmgr-%d", i)))
	}
	results["xmgr pull"] = median(xs)
	fmt.Printf("xmgr pull        %v  (runs %v)\n", median(xs).Round(time.Millisecond), round(xs))
	fmt.Printf("xmgr second pull %v  (target < 100ms)\n", second.Round(100*time.Microsecond))

	if xmgrBin != "" {
		cs, csecond, err := xmgrCLIPulls(work, xmgrBin, srv.Host, ref, runs)
		if err != nil {
			fmt.Printf("xmgr CLI pull    failed: %v\n", err)
		} else {
			results["xmgr CLI pull"] = median(cs)
			fmt.Printf("xmgr CLI pull    %v  (runs %v)\n", median(cs).Round(time.Millisecond), round(cs))
			fmt.Printf("xmgr CLI second  %v\n", csecond.Round(100*time.Microsecond))
		}
	}

	// skopeo copy to an OCI layout: download only.
	var ks []time.Duration
	for i := 0; i < runs; i++ {
		dst := filepath.Join(work, fmt.Sprintf("oci-%d", i))
		dropCaches()
		start := time.Now()
		c := exec.Command("skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+dst+":1")
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("skopeo copy: %v: %s", err, out)
		}
		ks = append(ks, time.Since(start))
		cpuTimes["skopeo copy"] = append(cpuTimes["skopeo copy"], c.ProcessState.UserTime()+c.ProcessState.SystemTime())
		os.RemoveAll(dst)
	}
	results["skopeo copy"] = median(ks)
	fmt.Printf("skopeo copy      %v  (runs %v)\n", median(ks).Round(time.Millisecond), round(ks))

	if !skipDocker {
		ds, dsecond, err := dockerPulls(work, srv.Host, ref, runs)
		if err != nil {
			return err
		}
		results["docker pull"] = median(ds)
		fmt.Printf("docker pull      %v  (runs %v)\n", median(ds).Round(time.Millisecond), round(ds))
		fmt.Printf("docker second    %v\n", dsecond.Round(100*time.Microsecond))
		d := float64(results["docker pull"])
		fmt.Printf("\nratios to docker pull: xmgr %.2fx (target <= 0.5x), skopeo %.2fx; xmgr second pull %.3fx of docker's\n",
			float64(results["xmgr pull"])/d, float64(results["skopeo copy"])/d, float64(second)/float64(dsecond))
		if c, ok := results["xmgr CLI pull"]; ok {
			fmt.Printf("ratio xmgr CLI pull / docker pull: %.2fx\n", float64(c)/d)
		}
	}
	fmt.Printf("ratio xmgr / skopeo copy: %.2fx\n", float64(results["xmgr pull"])/float64(results["skopeo copy"]))
	// CPU time is what a loaded machine makes everyone wait for; the
	// daemons' own CPU (dockerd, xmgr daemon) without their CLIs.
	for _, k := range []string{"xmgr daemon", "dockerd"} {
		if v, ok := peakRSS[k]; ok {
			fmt.Printf("peak RSS of %-12s %d MB (whole life: start, pulls, removals)\n", k, v>>20)
		}
	}
	fmt.Println("\nCPU seconds per pull (median):")
	for _, k := range []string{"xmgr pull", "xmgr CLI pull", "docker pull", "skopeo copy"} {
		if v, ok := cpuTimes[k]; ok {
			fmt.Printf("  %-14s %v\n", k, median(v).Round(10*time.Millisecond))
		}
	}
	return nil
}

// dropCaches makes every tool start with the registry's files out of the
// page cache... except it needs writing to /proc, which a container may
// forbid; then all tools run warm alike.
func dropCaches() {
	exec.Command("sync").Run()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// buildImage makes the five layers: 35 MB and 25 MB of random bytes, 75 MB
// of text (compresses about 3:1), 10,000 files of 2 KiB, and 15 MB random.
func buildImage() (*regtest.Image, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := 0; i+8 <= n; i += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				b[i+k] = byte(v >> (8 * k))
			}
		}
		return b
	}
	words := strings.Fields("the quick brown fox jumps over lazy dog container image layer registry manifest digest overlay snapshot kernel namespace cgroup pull push tag runtime shim daemon socket config index platform blob content store metadata network volume")
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(12) == 0 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		return b.Bytes()[:n]
	}
	var many []regtest.File
	many = append(many, regtest.File{Name: "usr/"}, regtest.File{Name: "usr/share/"})
	for d := 0; d < 100; d++ {
		many = append(many, regtest.File{Name: fmt.Sprintf("usr/share/d%03d/", d)})
		for f := 0; f < 100; f++ {
			many = append(many, regtest.File{Name: fmt.Sprintf("usr/share/d%03d/f%03d", d, f), Body: randomBytes(2048)})
		}
	}
	specs := [][]regtest.File{
		{{Name: "opt/"}, {Name: "opt/random1", Body: randomBytes(35 << 20)}},
		{{Name: "var/"}, {Name: "var/random2", Body: randomBytes(25 << 20)}},
		{{Name: "doc/"}, {Name: "doc/text", Body: text(75 << 20)}},
		many,
		{{Name: "srv/"}, {Name: "srv/random3", Body: randomBytes(15 << 20)}},
	}
	var ls []regtest.Layer
	for _, files := range specs {
		tb, err := regtest.Tar(files)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		zw := pgzip.NewWriter(&b)
		zw.Write(tb)
		zw.Close()
		ls = append(ls, regtest.Layer{Blob: b.Bytes(), Digest: digest.FromBytes(b.Bytes()), DiffID: digest.FromBytes(tb)})
	}
	return regtest.NewImage(ls, goarch(), "/bin/true")
}

func goarch() string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}

type stack struct {
	db  *metadata.DB
	reg *registry.Registry
}

func (s *stack) close() { s.db.Close() }

func newStack(root string, parallel int) (*stack, error) {
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		return nil, err
	}
	cs, err := content.Open(filepath.Join(root, "content"))
	if err != nil {
		return nil, err
	}
	sn, err := snapshots.New("overlay2", filepath.Join(root, "snapshots"))
	if err != nil {
		return nil, err
	}
	ls := layers.NewStore(db, cs, sn)
	is := images.New(db, cs, ls)
	return &stack{db: db, reg: registry.New(registry.Options{Parallel: parallel, ConfigDir: filepath.Join(root, "docker")}, cs, ls, is)}, nil
}

// dockerPulls starts Debian's dockerd with private directories (no
// bridge, no iptables) and pulls ref runs times, removing the image in
// between; then once more with the image held.
func dockerPulls(work, host, ref string, runs int) ([]time.Duration, time.Duration, error) {
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, 0, fmt.Errorf("dockerd not found (apt-get install docker.io), or run with -skip-docker")
	}
	dir := filepath.Join(work, "docker")
	sock := filepath.Join(dir, "docker.sock")
	os.MkdirAll(dir, 0o700)
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, 0, err
	}
	defer logf.Close()
	cmd := exec.Command(dockerd,
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", "unix://"+sock,
		"--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
		"--insecure-registry", host, "--storage-driver", "overlay2")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	docker := func(args ...string) ([]byte, error) {
		c := exec.Command("/usr/bin/docker", append([]string{"-H", "unix://" + sock}, args...)...)
		return c.CombinedOutput()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := docker("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return nil, 0, fmt.Errorf("dockerd did not start: %s", lastLines(log, 10))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		if i > 0 {
			if out, err := docker("rmi", ref); err != nil {
				return nil, 0, fmt.Errorf("docker rmi: %v: %s", err, out)
			}
		}
		dropCaches()
		cpu0 := procCPU(cmd.Process.Pid)
		start := time.Now()
		if out, err := docker("pull", "-q", ref); err != nil {
			return nil, 0, fmt.Errorf("docker pull: %v: %s", err, out)
		}
		ds = append(ds, time.Since(start))
		cpuTimes["docker pull"] = append(cpuTimes["docker pull"], procCPU(cmd.Process.Pid)-cpu0)
	}
	var ss []time.Duration
	for j := 0; j < 5; j++ {
		start := time.Now()
		if out, err := docker("pull", "-q", ref); err != nil {
			return nil, 0, fmt.Errorf("docker second pull: %v: %s", err, out)
		}
		ss = append(ss, time.Since(start))
	}
	peakRSS["dockerd"] = procHWM(cmd.Process.Pid)
	docker("rmi", ref)
	return ds, median(ss), nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// xmgrCLIPulls starts `xmgr daemon` with private roots and times the CLI's
// pull as a user runs it, removing the image between runs (its layers and
// blobs go with it); then once more with the image held.
func xmgrCLIPulls(work, bin, host, ref string, runs int) ([]time.Duration, time.Duration, error) {
	dir := filepath.Join(work, "xmgrd")
	sock := "unix://" + filepath.Join(dir, "xmgr.sock")
	os.MkdirAll(dir, 0o700)
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, 0, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "daemon", "--host", sock, "--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "exec"), "--insecure-registry", host)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	xmgr := func(args ...string) ([]byte, error) {
		return exec.Command(bin, append([]string{"-H", sock}, args...)...).CombinedOutput()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := xmgr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return nil, 0, fmt.Errorf("xmgr daemon did not start: %s", lastLines(log, 10))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var cs []time.Duration
	for i := 0; i < runs; i++ {
		if i > 0 {
			if out, err := xmgr("rmi", ref); err != nil {
				return nil, 0, fmt.Errorf("xmgr rmi: %v: %s", err, out)
			}
		}
		dropCaches()
		cpu0 := procCPU(cmd.Process.Pid)
		start := time.Now()
		if out, err := xmgr("pull", "-q", ref); err != nil {
			return nil, 0, fmt.Errorf("xmgr pull: %v: %s", err, out)
		}
		cs = append(cs, time.Since(start))
		cpuTimes["xmgr CLI pull"] = append(cpuTimes["xmgr CLI pull"], procCPU(cmd.Process.Pid)-cpu0)
	}
	var ss []time.Duration
	for j := 0; j < 5; j++ {
		start := time.Now()
		if out, err := xmgr("pull", "-q", ref); err != nil {
			return nil, 0, fmt.Errorf("xmgr second pull: %v: %s", err, out)
		}
		ss = append(ss, time.Since(start))
	}
	peakRSS["xmgr daemon"] = procHWM(cmd.Process.Pid)
	return cs, median(ss), nil
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a running process's user+system CPU time (from
// /proc/PID/stat, in clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parens.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procHWM is a process's peak resident set size in bytes (VmHWM).
func procHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
