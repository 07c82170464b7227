package xmgr

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunBenchAgainstDocker measures containers: `run --rm IMAGE true`
// with --network none and with the default bridge, then 50 containers
// started at once (all running and answering HTTP), and what an idle
// container costs in memory, for xmgr and for a private dockerd 20.10 with
// its own bridge, on the same image. It prints a table, asserts nothing
// about time, and runs only with XMGR_BENCH=1 (`make xmgr-bench`).
func TestRunBenchAgainstDocker(t *testing.T) {
	if os.Getenv("XMGR_BENCH") == "" {
		t.Skip("set XMGR_BENCH=1 to measure xmgr's containers beside dockerd's")
	}
	dockerBin := "/usr/bin/docker"
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed (apt-get install docker.io)")
	}
	if _, err := os.Stat(dockerBin); err != nil {
		t.Skip("Debian's docker CLI is not installed")
	}
	restoreIptables(t)
	runs := 15
	if v, err := strconv.Atoi(os.Getenv("XMGR_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	x := newDaemon(t)
	d := newDockerdBridge(t)
	tarball := busyboxTar(t)
	const img = "bench/busybox:1"
	x.ok("import", tarball, img)
	if r := run(t, nil, nil, dockerBin, "-H", d.host, "import", tarball, img); r.code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	xmgrCmd := func(args ...string) *exec.Cmd {
		c := exec.Command(xmgrBin, append([]string{"-H", x.host}, args...)...)
		c.Env = append(os.Environ(), "XMGR_NO_AUTOSTART=1")
		return c
	}
	dockerCmd := func(host string) func(args ...string) *exec.Cmd {
		return func(args ...string) *exec.Cmd {
			return exec.Command(dockerBin, append([]string{"-H", host}, args...)...)
		}
	}
	clients := []struct {
		name string
		cmd  func(args ...string) *exec.Cmd
	}{
		{"xmgr CLI -> xmgr", xmgrCmd},
		{"docker CLI -> xmgr", dockerCmd(x.host)},
		{"docker CLI -> dockerd", dockerCmd(d.host)},
	}
	fmt.Printf("\n%-34s %14s %14s %14s %8s\n", "run --rm IMAGE true (median)", clients[0].name, clients[1].name, clients[2].name, "ratio")
	for _, sc := range []struct {
		name string
		args []string
	}{
		{"--network none", []string{"run", "--rm", "--network", "none", img, "true"}},
		{"default bridge", []string{"run", "--rm", img, "true"}},
	} {
		times := make([][]time.Duration, len(clients))
		for i := 0; i < runs+2; i++ {
			for j, c := range clients {
				t0 := time.Now()
				if out, err := c.cmd(sc.args...).CombinedOutput(); err != nil {
					t.Fatalf("%s %v: %v\n%s", c.name, sc.args, err, out)
				}
				if i >= 2 { // two warm-up runs
					times[j] = append(times[j], time.Since(t0))
				}
			}
		}
		m := make([]time.Duration, len(clients))
		for j := range clients {
			m[j] = median(times[j])
		}
		fmt.Printf("%-34s %14s %14s %14s %7.2fx\n", sc.name, ms(m[0]), ms(m[1]), ms(m[2]), float64(m[0])/float64(m[2]))
	}

	const n = 50
	fmt.Printf("\n%-34s %14s %14s %8s\n", fmt.Sprintf("%d containers at once", n), "xmgr", "dockerd", "ratio")
	type dens struct {
		wall   time.Duration
		perCtr float64 // MiB
	}
	var res [2]dens
	for k, c := range []struct {
		name   string
		cmd    func(args ...string) *exec.Cmd
		memory func() int64
	}{
		{"xmgr", xmgrCmd, func() int64 { return rssOf([]int{x.cmd.Process.Pid}) + rssOfNamed("xrt-shim") }},
		{"dockerd", dockerCmd(d.host), func() int64 { return rssOf(d.pids()) + rssOfNamed("containerd-shim-runc-v2") }},
	} {
		before := c.memory()
		t0 := time.Now()
		ids := make([]string, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := c.cmd("run", "-d", "--label", "xmgr-bench=1", img, "httpd", "-f", "-p", "8080", "-h", "/").CombinedOutput()
				if err != nil {
					errs <- fmt.Errorf("%s run -d: %v: %s", c.name, err, out)
					return
				}
				ids[i] = strings.TrimSpace(string(out))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, id := range ids {
			ip := strings.TrimSpace(output(t, c.cmd("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)))
			waitHTTP(t, "http://"+ip+":8080/")
		}
		res[k].wall = time.Since(t0)
		time.Sleep(2 * time.Second) // settle: idle containers
		res[k].perCtr = float64(c.memory()-before) / n / (1 << 20)
		out := output(t, c.cmd("ps", "-q", "--filter", "label=xmgr-bench=1"))
		if got := len(strings.Fields(out)); got != n {
			t.Errorf("%s: %d containers running, want %d", c.name, got, n)
		}
		rm := c.cmd(append([]string{"rm", "-f"}, ids...)...)
		if out, err := rm.CombinedOutput(); err != nil {
			t.Errorf("%s rm -f: %v: %s", c.name, err, out)
		}
	}
	fmt.Printf("%-34s %14s %14s %7.2fx\n", "start all, all answering", ms(res[0].wall), ms(res[1].wall), float64(res[0].wall)/float64(res[1].wall))
	fmt.Printf("%-34s %11.2f MiB %11.2f MiB %7.2fx\n", "memory per idle container", res[0].perCtr, res[1].perCtr, res[0].perCtr/res[1].perCtr)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func output(t *testing.T, c *exec.Cmd) string {
	t.Helper()
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	if err := c.Run(); err != nil {
		t.Fatalf("%v: %v: %s", c.Args, err, e.String())
	}
	return o.String()
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	cl := &http.Client{Timeout: time.Second}
	for i := 0; i < 200; i++ {
		resp, err := cl.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// rssOf sums the resident memory of the pids, in bytes.
func rssOf(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				sum += kb << 10
			}
		}
	}
	return sum
}

// rssOfNamed sums the resident memory of every process named comm.
func rssOfNamed(comm string) int64 {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == comm[:min(len(comm), 15)] {
			pids = append(pids, p)
		}
	}
	return rssOf(pids)
}

// busyboxTar is a root filesystem of Debian's busybox-static as a tar.
func busyboxTar(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox-static is not installed")
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"sh", "true", "httpd", "sleep", "echo", "cat", "wget", "nc", "hostname", "ls"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", tool)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "tmp", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(dir, "busybox.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	return tarball
}

// restoreIptables removes, when the test ends, what a private dockerd
// added to iptables: its DOCKER* chains, the rules that jump to them or
// name its xdb* bridge, and the DROP it sets on FORWARD. Only those:
// putting back a whole iptables-save would also revive or wipe the rules
// of daemons that other tests run meanwhile.
func restoreIptables(t *testing.T) {
	before := map[string]string{}
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Skipf("iptables-save: %v", err)
		}
		before[table] = string(out)
	}
	t.Cleanup(func() {
		for table, was := range before {
			now, err := exec.Command("iptables-save", "-t", table).Output()
			if err != nil {
				t.Errorf("iptables-save: %v", err)
				continue
			}
			script := dockerdLeftovers(table, was, string(now))
			if script == "" {
				continue
			}
			c := exec.Command("iptables-restore", "--noflush")
			c.Stdin = strings.NewReader(script)
			if out, err := c.CombinedOutput(); err != nil {
				t.Errorf("iptables-restore of\n%s: %v: %s", script, err, out)
			}
		}
	})
}

// dockerdLeftovers is the iptables-restore script that undoes, in one
// table, dockerd's additions between two iptables-saves.
func dockerdLeftovers(table, was, now string) string {
	old := map[string]bool{}
	for _, l := range strings.Split(was, "\n") {
		old[l] = true
	}
	isDockerd := func(l string) bool { return strings.Contains(l, "DOCKER") || strings.Contains(l, " xdb") }
	var rules, flush, drop, policy []string
	for _, l := range strings.Split(now, "\n") {
		switch {
		case old[l]:
		case strings.HasPrefix(l, "-A ") && isDockerd(l):
			rules = append(rules, "-D "+l[3:])
		case strings.HasPrefix(l, ":DOCKER"):
			chain, _, _ := strings.Cut(l[1:], " ")
			flush, drop = append(flush, "-F "+chain), append(drop, "-X "+chain)
		case strings.HasPrefix(l, ":FORWARD "):
			for _, o := range strings.Split(was, "\n") {
				if f := strings.Fields(o); len(f) > 1 && f[0] == ":FORWARD" {
					policy = append(policy, "-P FORWARD "+f[1])
				}
			}
		}
	}
	if len(rules)+len(drop)+len(policy) == 0 {
		return ""
	}
	// Rules go before their chains are flushed, chains are empty before
	// they are deleted.
	lines := append(append(append(append([]string{"*" + table}, rules...), flush...), drop...), policy...)
	return strings.Join(append(lines, "COMMIT"), "\n") + "\n"
}

// newDockerdBridge is a private dockerd whose default network is a bridge
// of its own (so that `docker run` pays for a veth and iptables, as xmgr's
// default network does).
func newDockerdBridge(t *testing.T) *dockerdEnv {
	t.Helper()
	br := fmt.Sprintf("xdb%d", os.Getpid()%100000)
	for _, args := range [][]string{
		{"link", "add", br, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("10.224.%d.1/24", os.Getpid()%250), "dev", br},
		{"link", "set", br, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })
	return startDockerd(t, "--bridge", br, "--ip6tables=false")
}
