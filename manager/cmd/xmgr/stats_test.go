package main

import (
	"bytes"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestComputeUsage(t *testing.T) {
	s := &types.StatsJSON{
		CPUStats: types.CPUStats{
			CPUUsage:    types.CPUUsage{TotalUsage: 3_000_000_000},
			SystemUsage: 20_000_000_000, OnlineCPUs: 2,
		},
		PreCPUStats: types.CPUStats{
			CPUUsage:    types.CPUUsage{TotalUsage: 2_000_000_000},
			SystemUsage: 16_000_000_000, OnlineCPUs: 2,
		},
		MemoryStats: types.MemoryStats{Usage: 110 << 20, Limit: 1 << 30,
			Stats: map[string]uint64{"total_inactive_file": 10 << 20}},
		PidsStats: types.PidsStats{Current: 7},
		Networks: map[string]types.NetworkStats{
			"eth0": {RxBytes: 1000, TxBytes: 500}, "eth1": {RxBytes: 1500, TxBytes: 0}},
		BlkioStats: types.BlkioStats{IoServiceBytesRecursive: []types.BlkioStatEntry{
			{Op: "Read", Value: 4096}, {Op: "Write", Value: 1 << 20}, {Op: "Total", Value: 999}, {Op: "read", Value: 4096}}},
	}
	u := computeUsage(s, nil)
	// 1e9 of 4e9 host ns on 2 CPUs: 50%.
	want := usage{CPUPercent: 50, Memory: 100 << 20, MemoryLimit: 1 << 30, MemoryPercent: 100.0 / 1024 * 100,
		NetRx: 2500, NetTx: 500, BlockRead: 8192, BlockWrite: 1 << 20, PIDs: 7}
	if u != want {
		t.Errorf("computeUsage:\n%+v\nwant\n%+v", u, want)
	}
	r := statsRowOf("web", "/web", "0123456789abcdef", u, true, true)
	wantRow := statsRow{Container: "web", Name: "web", ID: "0123456789ab", CPUPerc: "50.00%",
		MemUsage: "100MiB / 1GiB", MemPerc: "9.77%", NetIO: "2.5kB / 500B", BlockIO: "8.19kB / 1.05MB", PIDs: "7"}
	if r != wantRow {
		t.Errorf("statsRowOf:\n%+v\nwant\n%+v", r, wantRow)
	}

	// No PreCPUStats from the daemon: the previous sample gives the delta;
	// with neither, the average since the counters started (as Docker).
	s2 := *s
	s2.PreCPUStats = types.CPUStats{}
	if got := computeUsage(&s2, nil).CPUPercent; got != 30 {
		t.Errorf("first sample CPU = %v, want 30", got)
	}
	prev := &types.StatsJSON{CPUStats: s.PreCPUStats}
	if got := computeUsage(&s2, prev).CPUPercent; got != 50 {
		t.Errorf("CPU from the previous sample = %v, want 50", got)
	}
	// OnlineCPUs missing: the per-CPU list counts.
	s2.PreCPUStats = s.PreCPUStats
	s2.CPUStats.OnlineCPUs = 0
	s2.CPUStats.CPUUsage.PercpuUsage = []uint64{1, 2, 3, 4}
	if got := computeUsage(&s2, nil).CPUPercent; got != 100 {
		t.Errorf("CPU with 4 per-CPU entries = %v, want 100", got)
	}
	// cgroup v2 names the cache inactive_file; a limit of 0 gives 0%.
	m := computeUsage(&types.StatsJSON{MemoryStats: types.MemoryStats{Usage: 300, Stats: map[string]uint64{"inactive_file": 100}}}, nil)
	if m.Memory != 200 || m.MemoryPercent != 0 {
		t.Errorf("v2 memory: %+v", m)
	}
}

func TestStatsTable(t *testing.T) {
	rows := []any{
		statsRowOf("a", "/a", "aaaaaaaaaaaaaaaa", usage{MemoryLimit: 2 << 30}, true, true),
		statsRowOf("b", "", "bbbbbbbbbbbbbbbb", usage{}, false, true),
	}
	var b bytes.Buffer
	if err := (table{def: statsDefaultFormat, headers: statsHeader}).write(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n" +
		"aaaaaaaaaaaa   a         0.00%     0B / 2GiB           0.00%     0B / 0B   0B / 0B     0\n" +
		"bbbbbbbbbbbb             --        -- / --             --        --        --          --\n"
	if b.String() != want {
		t.Errorf("stats table:\n%s\nwant\n%s", b.String(), want)
	}
}

func TestStatsBoard(t *testing.T) {
	b := &statsBoard{byKey: map[string]*statsEntry{}}
	a, isNew := b.add("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaa")
	if !isNew {
		t.Fatal("first add is not new")
	}
	if _, isNew := b.add("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaa"); isNew {
		t.Error("second add of the same container is new")
	}
	c, _ := b.add("cccccccccccccccc", "cccccccccccc")
	b.update(a, &types.StatsJSON{Name: "/a", PidsStats: types.PidsStats{Current: 2}})
	c.done = true // its stream ended: the container stopped

	rows := b.rows(true, false)
	if len(rows) != 2 || rows[0].(statsRow).Name != "a" || rows[0].(statsRow).PIDs != "2" || rows[1].(statsRow).PIDs != "--" {
		t.Errorf("rows: %+v", rows)
	}
	// Following all running containers, a stopped one leaves the table
	// and may come back as new.
	if rows := b.rows(true, true); len(rows) != 1 || rows[0].(statsRow).Container != "aaaaaaaaaaaa" {
		t.Errorf("rows after the drop: %+v", rows)
	}
	if _, isNew := b.add("cccccccccccccccc", "cccccccccccc"); !isNew {
		t.Error("a dropped container did not come back")
	}
}
