package xmgr

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// resourcesProbe is run by a RUN step: it writes what the step's
// container sees of its limits and hosts (cgroup v1 or v2).
const resourcesProbe = `cg=/sys/fs/cgroup
if [ -f $cg/memory/memory.limit_in_bytes ]; then
	echo "memory=$(cat $cg/memory/memory.limit_in_bytes)"
	echo "memsw=$(cat $cg/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting)"
	echo "shares=$(cat $cg/cpu/cpu.shares)"
	echo "cfs=$(cat $cg/cpu/cpu.cfs_quota_us) $(cat $cg/cpu/cpu.cfs_period_us)"
	echo "cpuset=$(cat $cg/cpuset/cpuset.cpus)"
else
	echo "memory=$(cat $cg/memory.max)"
	echo "memsw=$(cat $cg/memory.swap.max 2>/dev/null || echo no-swap-accounting)"
	echo "weight=$(cat $cg/cpu.weight)"
	echo "cfs=$(cat $cg/cpu.max)"
	echo "cpuset=$(cat $cg/cpuset.cpus)"
fi
echo "nofile=$(ulimit -Sn):$(ulimit -Hn)"
echo "shm=$(( $(stat -f -c '%b*%S' /dev/shm) ))"
echo "hosts=$(grep -w seen-host /etc/hosts | tr -s ' \t' ' ')"
`

// resourceCase is one build's flags and what its RUN container must see
// (key=value lines of resourcesProbe) on cgroup v1 and v2.
type resourceCase struct {
	name   string
	flags  []string
	v1, v2 map[string]string
}

var resourceCases = []resourceCase{
	{name: "all", flags: []string{"-m", "64m", "--memory-swap", "128m", "-c", "512", "--cpu-period", "100000", "--cpu-quota", "50000",
		"--cpuset-cpus", "0", "--ulimit", "nofile=1024:2048", "--shm-size", "16m", "--add-host", "seen-host:10.1.2.3"},
		v1: map[string]string{"memory": "67108864", "memsw": "134217728", "shares": "512", "cfs": "50000 100000", "cpuset": "0",
			"nofile": "1024:2048", "shm": "16777216", "hosts": "10.1.2.3 seen-host"},
		// v2: swap.max is the swap alone; the shares become a weight.
		v2: map[string]string{"memory": "67108864", "memsw": "67108864", "cfs": "50000 100000", "cpuset": "0",
			"nofile": "1024:2048", "shm": "16777216", "hosts": "10.1.2.3 seen-host"}},
	// --memory-swap -1 is unlimited swap; no --shm-size is the 64m default.
	{name: "unlimited swap", flags: []string{"--memory", "32m", "--memory-swap", "-1"},
		v1: map[string]string{"memory": "33554432", "memsw": "9223372036854771712", "shm": "67108864", "hosts": ""},
		v2: map[string]string{"memory": "33554432", "memsw": "max", "shm": "67108864", "hosts": ""}},
}

// probeValues reads resourcesProbe's lines.
func probeValues(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestBuildResources builds with `build`'s resource and host flags and
// reads back what the RUN container saw, from xmgr and (when installed)
// from dockerd's classic builder; the options stay out of the cache key;
// bad values fail before anything is made.
func TestBuildResources(t *testing.T) {
	x, d := fidelitySides(t)
	dir := t.TempDir()
	files := map[string]string{
		"probe.sh":   resourcesProbe,
		"Dockerfile": "FROM busybox\nCOPY probe.sh /probe.sh\nRUN sh /probe.sh > /seen.txt\n",
		// No step of it commits before the RUN (Docker keeps the
		// intermediate images of a failed build's earlier steps).
		"Dockerfile.run": "FROM busybox\nRUN true\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes")
	v1 := err == nil
	noSwapAccounting := false
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); v1 && err != nil {
		noSwapAccounting = true
	}

	const tag = "buildres/seen"
	seen := map[string]map[string]map[string]string{} // case, side: values
	sides := []*builderSide{x, d}
	if x != nil && d != nil && x.name == "xmgr" {
		// Docker's CLI sends the options to xmgr as to dockerd.
		dx := dockerSide(t, x.host)
		dx.name = "dockercli-xmgr"
		sides = append(sides, dx)
	}
	for _, s := range sides {
		if s == nil {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			t.Cleanup(func() { s.run("rmi", "-f", tag) })
			for _, c := range resourceCases {
				args := append(append([]string{"build", "--no-cache", "-t", tag}, c.flags...), dir)
				if r := s.run(args...); r.code != 0 {
					t.Fatalf("%s: build %v: %s", c.name, c.flags, r)
				}
				r := s.run("run", "--rm", tag, "cat", "/seen.txt")
				if r.code != 0 {
					t.Fatalf("%s: reading /seen.txt: %s", c.name, r)
				}
				got := probeValues(r.out)
				if seen[c.name] == nil {
					seen[c.name] = map[string]map[string]string{}
				}
				seen[c.name][s.name] = got
				want := c.v2
				if v1 {
					want = c.v1
				}
				for k, w := range want {
					if k == "memsw" && noSwapAccounting {
						continue
					}
					if got[k] != w {
						t.Errorf("%s: the RUN container saw %s=%q, want %q; all it saw:\n%s", c.name, k, got[k], w, r.out)
					}
				}
			}

			// The options are not in the cache key (as Docker): other
			// limits reuse the steps, and the RUN does not run again.
			last := seen[resourceCases[len(resourceCases)-1].name][s.name]
			r := s.run("build", "-t", tag, "-m", "96m", "--add-host", "other:10.9.9.9", dir)
			if r.code != 0 || strings.Count(r.out, "Using cache") != 2 {
				t.Errorf("rebuild with other limits: want both steps cached: %s", r)
			}
			if r := s.run("run", "--rm", tag, "cat", "/seen.txt"); probeValues(r.out)["memory"] != last["memory"] {
				t.Errorf("the cached image holds %q, want the last build's memory=%s", r.out, last["memory"])
			}

			// Bad values: the CLI's flag error, and nothing is made.
			images := func() string {
				ids := strings.Fields(s.run("images", "-aq").out)
				sort.Strings(ids) // images made in the same second come in any order
				return strings.Join(ids, " ")
			}
			before := images()
			for _, bad := range []struct{ flag, value string }{
				{"--memory", "foo"}, {"--memory-swap", "lots"}, {"--ulimit", "x"}, {"--add-host", "nocolon"},
				{"--add-host", "h:1.2.3"}, {"--shm-size", "big"},
			} {
				r := s.run("build", "--no-cache", "-t", "buildres/bad", bad.flag, bad.value, dir)
				if r.code != 125 || !strings.Contains(r.err, fmt.Sprintf("invalid argument %q for ", bad.value)) || !strings.Contains(r.err, bad.flag+`" flag`) {
					t.Errorf("build %s %s: want exit 125 and the flag's error: %s", bad.flag, bad.value, r)
				}
			}
			// A limit only the daemon refuses fails the RUN step.
			r = s.run("build", "--no-cache", "-t", "buildres/bad", "-m", "1k", "-f", filepath.Join(dir, "Dockerfile.run"), dir)
			if r.code == 0 || !strings.Contains(r.err, "Minimum memory limit allowed is 6MB") {
				t.Errorf("build -m 1k: want Docker's minimum memory error: %s", r)
			}
			if after := images(); after != before {
				t.Errorf("failed builds left images: before %s, after %s", before, after)
			}
			if r := s.run("ps", "-aq"); r.code != 0 || strings.TrimSpace(r.out) != "" {
				t.Errorf("failed builds left containers: %s", r)
			}
		})
	}
	if x == nil || d == nil {
		return
	}
	for _, c := range resourceCases {
		ds := seen[c.name][d.name]
		for _, other := range sides {
			xs := seen[c.name][other.name]
			if other == d || xs == nil || ds == nil {
				continue
			}
			for k := range c.v1 {
				if xs[k] != ds[k] {
					t.Errorf("%s: %s's RUN container saw %s=%q, dockerd's %q", c.name, other.name, k, xs[k], ds[k])
				}
			}
		}
	}
}
