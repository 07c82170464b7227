package containers

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

func TestParsePS(t *testing.T) {
	out := "UID        PID  PPID  C STIME TTY          TIME CMD\n" +
		"root         1     0  0 16:10 ?        00:00:59 /sbin/init splash\n" +
		"root       100     1  0 16:11 ?        00:00:00 sh -c sleep 100\n" +
		"root       101   100  0 16:11 ?        00:00:00 sleep 100\n"
	top, err := parsePS([]byte(out), []int{100, 101})
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Titles) != 8 || top.Titles[1] != "PID" {
		t.Errorf("titles %q", top.Titles)
	}
	want := [][]string{
		{"root", "100", "1", "0", "16:11", "?", "00:00:00", "sh -c sleep 100"},
		{"root", "101", "100", "0", "16:11", "?", "00:00:00", "sleep 100"},
	}
	if !reflect.DeepEqual(top.Processes, want) {
		t.Errorf("processes %q, want %q", top.Processes, want)
	}
	// Threads (ps -m): "-" rows follow their process.
	threads := "PID TTY TIME CMD\n100 ? 00:00:00 sh\n- - 00:00:00 -\n200 ? 00:00:00 other\n- - 00:00:00 -\n"
	top, err = parsePS([]byte(threads), []int{100})
	if err != nil || len(top.Processes) != 2 || top.Processes[1][0] != "-" {
		t.Errorf("threads: %q, %v", top.Processes, err)
	}
	if _, err := parsePS([]byte("USER COMMAND\nroot x\n"), nil); err == nil {
		t.Error("ps output without a PID column was accepted")
	}
	if err := checkPSArgs("-o user=PID"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("renaming user to PID: %v", err)
	}
	if err := checkPSArgs("-o pid=PID,comm"); err != nil {
		t.Errorf("renaming pid to PID: %v", err)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatsFromCgroupV1Files(t *testing.T) {
	root := t.TempDir()
	cg := cgroups{root: root, path: "/xmgr/abc"}
	d := func(c, f string) string { return filepath.Join(c, "xmgr/abc", f) }
	writeFiles(t, root, map[string]string{
		d("cpuacct", "cpuacct.usage"):                           "123456789\n",
		d("cpuacct", "cpuacct.usage_percpu"):                    "100000000 23456789 \n",
		d("cpuacct", "cpuacct.stat"):                            "user 7\nsystem 3\n",
		d("cpu", "cpu.stat"):                                    "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n",
		d("memory", "memory.usage_in_bytes"):                    "4096000\n",
		d("memory", "memory.max_usage_in_bytes"):                "8192000\n",
		d("memory", "memory.limit_in_bytes"):                    "67108864\n",
		d("memory", "memory.failcnt"):                           "1\n",
		d("memory", "memory.stat"):                              "cache 4096\nrss 8192\ntotal_inactive_file 1024\n",
		d("pids", "pids.current"):                               "3\n",
		d("pids", "pids.max"):                                   "max\n",
		d("pids", "cgroup.procs"):                               "10\n11\n12\n",
		d("blkio", "blkio.throttle.io_service_bytes_recursive"): "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n",
	})
	var s types.StatsJSON
	cg.sample(&s)
	u := s.CPUStats.CPUUsage
	if u.TotalUsage != 123456789 || !reflect.DeepEqual(u.PercpuUsage, []uint64{100000000, 23456789}) ||
		u.UsageInUsermode != 70000000 || u.UsageInKernelmode != 30000000 {
		t.Errorf("cpu %+v", u)
	}
	if s.CPUStats.ThrottlingData.ThrottledPeriods != 2 {
		t.Errorf("throttling %+v", s.CPUStats.ThrottlingData)
	}
	mem := s.MemoryStats
	if mem.Usage != 4096000 || mem.MaxUsage != 8192000 || mem.Limit != 67108864 || mem.Failcnt != 1 || mem.Stats["rss"] != 8192 || mem.Stats["total_inactive_file"] != 1024 {
		t.Errorf("memory %+v", mem)
	}
	if s.PidsStats.Current != 3 || s.PidsStats.Limit != 0 {
		t.Errorf("pids %+v", s.PidsStats)
	}
	want := []types.BlkioStatEntry{{Major: 8, Minor: 0, Op: "Read", Value: 4096}, {Major: 8, Op: "Write", Value: 512}, {Major: 8, Op: "Total", Value: 4608}}
	if !reflect.DeepEqual(s.BlkioStats.IoServiceBytesRecursive, want) {
		t.Errorf("blkio %+v", s.BlkioStats.IoServiceBytesRecursive)
	}
	if pids, err := cg.pids(); err != nil || !reflect.DeepEqual(pids, []int{10, 11, 12}) {
		t.Errorf("pids %v, %v", pids, err)
	}
}

func TestSystemCPUAndNetDev(t *testing.T) {
	stat := "cpu  100 2 30 400 5 6 7 0 0 0\ncpu0 50 1 15 200 2 3 3 0 0 0\n"
	if got := systemCPUUsage([]byte(stat)); got != 550*1e7 {
		t.Errorf("system cpu %d, want %d", got, uint64(550*1e7))
	}
	dev := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
		"    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n" +
		"  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n"
	got := netDev([]byte(dev))
	want := map[string]types.NetworkStats{"eth0": {RxBytes: 2000, RxPackets: 20, RxErrors: 1, RxDropped: 2, TxBytes: 3000, TxPackets: 30, TxErrors: 3, TxDropped: 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("net %+v", got)
	}
}

func changeList(cs []types.ContainerChange) string {
	var out []string
	for _, c := range cs {
		out = append(out, string("CAD"[c.Kind])+" "+c.Path)
	}
	return strings.Join(out, ",")
}

func TestOverlayChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: whiteouts are character devices")
	}
	lower, upper := t.TempDir(), t.TempDir()
	writeFiles(t, lower, map[string]string{"etc/passwd": "root", "etc/gone": "x", "usr/bin/tool": "t", "opq/old": "o"})
	writeFiles(t, upper, map[string]string{"etc/passwd": "root2", "etc/new/file": "n", "tmp/x": "x", "opq/fresh": "f"})
	if err := unix.Mknod(filepath.Join(upper, "etc/gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no trusted xattrs here: %v", err)
	}
	// /usr/bin: a directory copied up unchanged is not reported.
	os.MkdirAll(filepath.Join(upper, "usr"), 0o755)
	fi, _ := os.Stat(filepath.Join(lower, "usr"))
	os.Chtimes(filepath.Join(upper, "usr"), fi.ModTime(), fi.ModTime())
	got, err := overlayChanges(upper, []string{lower})
	if err != nil {
		t.Fatal(err)
	}
	want := "C /etc,D /etc/gone,A /etc/new,A /etc/new/file,C /etc/passwd,D /opq,A /opq/fresh,A /tmp,A /tmp/x"
	if changeList(got) != want {
		t.Errorf("changes\n got %s\nwant %s", changeList(got), want)
	}
}

func TestTreeChanges(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	writeFiles(t, lower, map[string]string{"etc/passwd": "root", "etc/gone": "x", "srv/a/b": "b", "same": "s"})
	writeFiles(t, upper, map[string]string{"etc/passwd": "root2", "etc/new": "n", "same": "s"})
	for _, p := range []string{"same", "etc/passwd", "etc"} {
		fi, _ := os.Stat(filepath.Join(lower, p))
		os.Chtimes(filepath.Join(upper, p), fi.ModTime(), fi.ModTime())
	}
	got, err := treeChanges(lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	want := "C /etc,D /etc/gone,A /etc/new,C /etc/passwd,D /srv"
	if changeList(got) != want {
		t.Errorf("changes\n got %s\nwant %s", changeList(got), want)
	}
}

// TestArchivePathsStayInside resolves paths through symlinks that point
// out of the root: they resolve inside it, never to the host's files.
func TestArchivePathsStayInside(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"etc/hosts": "inside", "data/f": "f"})
	os.Symlink("/etc", filepath.Join(root, "abs"))              // absolute: the root's /etc
	os.Symlink("../../../../../../", filepath.Join(root, "up")) // climbs: stops at the root
	os.Symlink("/etc/hosts", filepath.Join(root, "data/link"))

	rp, st, err := statIn(root, "/abs/hosts", "c1")
	if err != nil || rp.host != filepath.Join(root, "etc/hosts") || st.Name != "hosts" || st.Size != 6 {
		t.Errorf("abs/hosts: %+v %+v %v", rp, st, err)
	}
	rp, _, err = statIn(root, "/up/etc/hosts", "c1")
	if err != nil || rp.host != filepath.Join(root, "etc/hosts") {
		t.Errorf("up/etc/hosts resolved to %q, %v", rp.host, err)
	}
	_, st, err = statIn(root, "/data/link", "c1")
	if err != nil || st.Mode&uint32(os.ModeSymlink) == 0 || st.LinkTarget != "/etc/hosts" {
		t.Errorf("link: %+v %v", st, err)
	}
	if _, _, err := statIn(root, "/nope", "c1"); !errdefs.IsNotFound(err) {
		t.Errorf("missing path: %v", err)
	}

	// GET of a directory: entries named from its last element.
	var buf bytes.Buffer
	rp, _, _ = statIn(root, "/data", "c1")
	if err := archive.TarPath(&buf, rp.host, rp.name); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "data/,data/f,data/link" {
		t.Errorf("tar of /data: %q", names)
	}
}

func TestRewriteTarOwnersAndOverwrite(t *testing.T) {
	dest := t.TempDir()
	writeFiles(t, dest, map[string]string{"dir/x": "x", "file": "f"})
	mk := func(hdrs ...*tar.Header) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range hdrs {
			tw.WriteHeader(h)
		}
		tw.Close()
		return b.Bytes()
	}
	in := mk(&tar.Header{Name: "new", Typeflag: tar.TypeReg, Uid: 1000, Gid: 1000, Mode: 0o644})
	var out bytes.Buffer
	if err := rewriteTar(&out, bytes.NewReader(in), dest, true, false); err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(&out).Next()
	if err != nil || h.Uid != 0 || h.Gid != 0 {
		t.Errorf("owner not reset: %+v %v", h, err)
	}
	out.Reset()
	rewriteTar(&out, bytes.NewReader(in), dest, true, true)
	if h, _ := tar.NewReader(&out).Next(); h == nil || h.Uid != 1000 {
		t.Errorf("copyUIDGID lost the owner: %+v", h)
	}
	for _, h := range []*tar.Header{
		{Name: "dir", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "file/", Typeflag: tar.TypeDir, Mode: 0o755},
	} {
		err := rewriteTar(io.Discard, bytes.NewReader(mk(h)), dest, true, false)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "cannot overwrite") {
			t.Errorf("%s over the other kind: %v", h.Name, err)
		}
		if err := rewriteTar(io.Discard, bytes.NewReader(mk(h)), dest, false, false); err != nil {
			t.Errorf("%s without noOverwriteDirNonDir: %v", h.Name, err)
		}
	}
}

func TestMergeResources(t *testing.T) {
	cur := types.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, CPUShares: 512}
	got, err := mergeResources(cur, types.Resources{CPUShares: 1024})
	if err != nil || got.CPUShares != 1024 || got.Memory != 64<<20 {
		t.Errorf("shares update: %+v %v", got, err)
	}
	if _, err := mergeResources(cur, types.Resources{Memory: 256 << 20}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("memory over the set swap: %v", err)
	}
	if _, err := mergeResources(types.Resources{CPUQuota: 50000}, types.Resources{NanoCPUs: 1e9}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("nano cpus over a quota: %v", err)
	}
	if _, err := linuxResources("0123456789abcdef", types.Resources{Memory: 1 << 20}); err == nil {
		t.Error("a 1 MiB memory limit was accepted")
	}
	res, err := linuxResources("0123456789abcdef", types.Resources{Memory: 64 << 20, NanoCPUs: 5e8})
	if err != nil || res.Memory == nil || *res.Memory.Limit != 64<<20 || res.CPU == nil || *res.CPU.Quota != 50000 {
		t.Errorf("resources %+v, %v", res, err)
	}
	if err := restartPolicyValid(types.RestartPolicy{Name: "always", MaximumRetryCount: 3}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("always with a retry count: %v", err)
	}
}

func TestExecUserLookup(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\nappg:x:1001:\nwheel:x:10:app,other\n",
	})
	tests := []struct {
		spec string
		uid  uint32
		gid  uint32
		add  []uint32
		err  string
	}{
		// The primary group is also a supplementary one, as in Docker.
		{spec: "app", uid: 1000, gid: 1001, add: []uint32{1001, 10}},
		{spec: "1000", uid: 1000, gid: 1001, add: []uint32{1001, 10}},
		{spec: "4242", uid: 4242, gid: 0, add: []uint32{0}},
		{spec: "app:wheel", uid: 1000, gid: 10, add: []uint32{10}},
		{spec: "app:77", uid: 1000, gid: 77, add: []uint32{77}},
		{spec: "nobody", err: "unable to find user nobody"},
		{spec: "app:nogroup", err: "unable to find group nogroup"},
	}
	for _, tt := range tests {
		u, err := lookupUser(root, tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v, want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || u.UID != tt.uid || u.GID != tt.gid || !reflect.DeepEqual(u.AdditionalGids, tt.add) {
			t.Errorf("%s: %+v %v, want %d:%d %v", tt.spec, u, err, tt.uid, tt.gid, tt.add)
		}
	}
	if got := mergeEnvVars([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"}); strings.Join(got, " ") != "PATH=/bin A=2 B=3" {
		t.Errorf("env %q", got)
	}
}
