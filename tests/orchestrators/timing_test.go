package orchestrators

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTiming measures, when XRT_ORCH_TIMING=N, what a user of each
// orchestrator waits for with xrt and with runc as the runtime, N times
// each, interleaved: `ctr run --rm` and `docker run --rm` of busybox
// `true`, and `ctr task exec` / `docker exec` of `true` into a running
// container. It reports medians and ratios; it asserts nothing about time.
func TestTiming(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("XRT_ORCH_TIMING"))
	if n <= 0 {
		t.Skip("set XRT_ORCH_TIMING=N to time N runs with xrt and with runc")
	}
	xrt := xrtBinary(t)
	runc := tool(t, "runc", "/usr/sbin/runc", "runc")
	runtimes := []struct{ name, path string }{{"xrt", xrt}, {"runc", runc}}
	var report []string
	row := func(what string, samples map[string][]time.Duration) {
		x, r := median(samples["xrt"]), median(samples["runc"])
		report = append(report, fmt.Sprintf("%-34s xrt %7.1f ms   runc %7.1f ms   ratio %.2f",
			what, ms(x), ms(r), float64(x)/float64(r)))
	}

	t.Run("containerd", func(t *testing.T) {
		ns := "xrt-orch-timing-" + suffix()
		dir := workDir(t, xrt, "/"+ns)
		e := startContainerd(t, xrt, dir, ns, "")
		run(t, e.daemon, e.cmd("images", "import", writeImage(t, dir))...)
		fifo := filepath.Join(dir, "fifo")
		flags := func(rt string) []string {
			path := xrt
			if rt == "runc" {
				path = runc
			}
			return []string{"--runc-binary", path, "--runc-root", filepath.Join(dir, "root-"+rt), "--fifo-dir", fifo}
		}
		var ids []string
		for _, rt := range runtimes {
			ids = append(ids, "bg-"+rt.name)
		}
		e.removeOnCleanup(t, ids...)

		runs := map[string][]time.Duration{}
		for i := 0; i < n; i++ {
			for _, rt := range runtimes {
				id := fmt.Sprintf("%s-%d", rt.name, i)
				e.removeOnCleanup(t, id)
				runs[rt.name] = append(runs[rt.name], timed(t, e.daemon, e.cmd(append(append([]string{"run", "--rm"}, flags(rt.name)...), imageRef, id, "true")...)))
			}
		}
		row("ctr run --rm busybox true", runs)

		// The runtime's own share: each call timed by a wrapper (the same
		// for both), create+start+delete of the same runs.
		calls := map[string][]time.Duration{}
		for i := 0; i < n; i++ {
			for _, rt := range runtimes {
				wrapper, log := timingWrapper(t, dir, rt.name, rt.path)
				id := fmt.Sprintf("%s-t%d", rt.name, i)
				e.removeOnCleanup(t, id)
				run(t, e.daemon, e.cmd("run", "--rm", "--runc-binary", wrapper, "--runc-root", filepath.Join(dir, "root-"+rt.name),
					"--fifo-dir", fifo, imageRef, id, "true")...)
				calls[rt.name] = append(calls[rt.name], sumCalls(t, log))
			}
		}
		row("  its create+start+delete calls", calls)

		execs := map[string][]time.Duration{}
		for _, rt := range runtimes {
			run(t, e.daemon, e.cmd(append(append([]string{"run", "-d"}, flags(rt.name)...), imageRef, "bg-"+rt.name, "sleep", "1000")...)...)
		}
		for i := 0; i < n; i++ {
			for _, rt := range runtimes {
				execs[rt.name] = append(execs[rt.name], timed(t, e.daemon, e.cmd("task", "exec", "--fifo-dir", fifo,
					"--exec-id", fmt.Sprintf("e%d", i), "bg-"+rt.name, "true")))
			}
		}
		row("ctr task exec true", execs)
	})

	t.Run("docker", func(t *testing.T) {
		parent := "/xrt-orch-timing-" + suffix()
		dir := workDir(t, xrt, parent)
		e := startDocker(t, xrt, dir, parent, dockerRuntimes{flags: map[string]string{"xrt": xrt}})
		run(t, e.daemon, e.cmd("load", "-i", writeImage(t, dir))...)
		runs := map[string][]time.Duration{}
		for i := 0; i < n; i++ {
			for _, rt := range runtimes {
				runs[rt.name] = append(runs[rt.name], timed(t, e.daemon, e.cmd("run", "--rm", "--runtime", rt.name, "--network", "none", imageRef, "true")))
			}
		}
		row("docker run --rm busybox true", runs)

		execs := map[string][]time.Duration{}
		for _, rt := range runtimes {
			name := "xrt-orch-timing-" + rt.name
			t.Cleanup(func() { _, _, _ = runCode(t, e.cmd("rm", "-f", name)...) })
			run(t, e.daemon, e.cmd("run", "-d", "--name", name, "--runtime", rt.name, "--network", "none", imageRef, "sleep", "1000")...)
		}
		for i := 0; i < n; i++ {
			for _, rt := range runtimes {
				execs[rt.name] = append(execs[rt.name], timed(t, e.daemon, e.cmd("exec", "xrt-orch-timing-"+rt.name, "true")))
			}
		}
		row("docker exec true", execs)
	})

	t.Logf("medians of %d runs each:\n%s", n, strings.Join(report, "\n"))
}

// timed runs a client command, failing the test if it fails, and returns
// how long it took.
func timed(t *testing.T, d *daemon, argv []string) time.Duration {
	t.Helper()
	start := time.Now()
	run(t, d, argv...)
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timingWrapper writes a script that runs bin, appending how long each call
// took (microseconds) to a log it empties first.
func timingWrapper(t *testing.T, dir, name, bin string) (wrapper, log string) {
	t.Helper()
	wrapper, log = filepath.Join(dir, "timed-"+name), filepath.Join(dir, "timed-"+name+".log")
	script := fmt.Sprintf("#!/bin/bash\ns=$(date +%%s%%N)\n%s \"$@\"\nrc=$?\necho $(( ($(date +%%s%%N) - s) / 1000 )) >>%s\nexit $rc\n", bin, log)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return wrapper, log
}

// sumCalls adds up the durations in a timing wrapper's log.
func sumCalls(t *testing.T, log string) time.Duration {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, f := range strings.Fields(string(b)) {
		us, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("timing log %s: %q", log, f)
		}
		sum += time.Duration(us) * time.Microsecond
	}
	return sum
}
