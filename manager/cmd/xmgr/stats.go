package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name: "stats", Usage: "Display a live stream of container(s) resource usage statistics",
		ArgsUsage: "[CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers (default shows just running)"},
			&cli.StringFlag{Name: "format", Usage: "pretty-print stats using a Go template, 'table', 'table TEMPLATE' or 'json'"},
			&cli.BoolFlag{Name: "no-stream", Usage: "disable streaming stats and only pull the first result"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
		},
		Action: runStats,
	}
}

const statsDefaultFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsRow is one line of stats, its numbers formatted as Docker's CLI
// formats them.
type statsRow struct {
	Container, Name, ID, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs string
}

var statsHeader = statsRow{
	Container: "CONTAINER", Name: "NAME", ID: "CONTAINER ID", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT",
	MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS",
}

// usage is what Docker's CLI computes from one stats sample.
type usage struct {
	CPUPercent          float64
	Memory, MemoryLimit float64
	MemoryPercent       float64
	NetRx, NetTx        float64
	BlockRead           float64
	BlockWrite          float64
	PIDs                uint64
}

// computeUsage derives the percentages and totals from a sample. prev is
// the container's previous sample, used for the CPU delta when the daemon
// left PreCPUStats empty (nil: none yet).
func computeUsage(s *types.StatsJSON, prev *types.StatsJSON) usage {
	pre := s.PreCPUStats
	if pre.CPUUsage.TotalUsage == 0 && pre.SystemUsage == 0 && prev != nil {
		pre = prev.CPUStats
	}
	u := usage{
		CPUPercent:  cpuPercent(pre, s.CPUStats),
		Memory:      float64(memoryWithoutCache(s.MemoryStats)),
		MemoryLimit: float64(s.MemoryStats.Limit),
		PIDs:        s.PidsStats.Current,
	}
	if u.MemoryLimit != 0 {
		u.MemoryPercent = u.Memory / u.MemoryLimit * 100
	}
	for _, n := range s.Networks {
		u.NetRx += float64(n.RxBytes)
		u.NetTx += float64(n.TxBytes)
	}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			u.BlockRead += float64(e.Value)
		case "write":
			u.BlockWrite += float64(e.Value)
		}
	}
	return u
}

// cpuPercent is the container's share of the host's CPU time between two
// samples, scaled by the number of CPUs (200% is two CPUs busy).
func cpuPercent(pre, cur types.CPUStats) float64 {
	if cur.CPUUsage.TotalUsage <= pre.CPUUsage.TotalUsage || cur.SystemUsage <= pre.SystemUsage {
		return 0
	}
	cpuDelta := float64(cur.CPUUsage.TotalUsage - pre.CPUUsage.TotalUsage)
	sysDelta := float64(cur.SystemUsage - pre.SystemUsage)
	cpus := float64(cur.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(cur.CPUUsage.PercpuUsage))
	}
	return cpuDelta / sysDelta * cpus * 100
}

// memoryWithoutCache is the usage minus the inactive page cache (cgroup
// v1's total_inactive_file, v2's inactive_file), as Docker's CLI shows it.
func memoryWithoutCache(m types.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v, ok := m.Stats["inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}

// statsRowOf formats one container's line; valid is false when no sample
// came (the numbers then show as "--").
func statsRowOf(container, name, id string, u usage, valid, trunc bool) statsRow {
	r := statsRow{Container: container, Name: strings.TrimPrefix(name, "/"), ID: id}
	if trunc {
		r.ID = shortID(id)
	}
	if !valid {
		r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs = "--", "-- / --", "--", "--", "--", "--"
		return r
	}
	r.CPUPerc = fmt.Sprintf("%.2f%%", u.CPUPercent)
	r.MemUsage = units.BytesSize(u.Memory) + " / " + units.BytesSize(u.MemoryLimit)
	r.MemPerc = fmt.Sprintf("%.2f%%", u.MemoryPercent)
	r.NetIO = units.HumanSizeWithPrecision(u.NetRx, 3) + " / " + units.HumanSizeWithPrecision(u.NetTx, 3)
	r.BlockIO = units.HumanSizeWithPrecision(u.BlockRead, 3) + " / " + units.HumanSizeWithPrecision(u.BlockWrite, 3)
	r.PIDs = fmt.Sprint(u.PIDs)
	return r
}

// statsEntry is the latest state of one container's stream.
type statsEntry struct {
	key       string // the name or ID the stream is for
	container string // the CONTAINER column: as the user named it, or the short ID
	name, id  string
	last      *types.StatsJSON
	usage     usage
	valid     bool
	done      bool // the stream ended
}

// statsBoard collects the streams' samples for the display.
type statsBoard struct {
	mu      sync.Mutex
	entries []*statsEntry
	byKey   map[string]*statsEntry
}

func (b *statsBoard) add(key, container string) (*statsEntry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.byKey[key]; ok {
		return e, false
	}
	e := &statsEntry{key: key, container: container, id: key}
	b.entries = append(b.entries, e)
	b.byKey[key] = e
	return e, true
}

func (b *statsBoard) update(e *statsEntry, s *types.StatsJSON) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e.usage = computeUsage(s, e.last)
	e.last, e.valid = s, true
	if s.Name != "" {
		e.name = s.Name
	}
	if s.ID != "" {
		e.id = s.ID
	}
}

// rows lists the entries; drop removes the ones whose stream ended (the
// containers that stopped, when stats follows all running ones).
func (b *statsBoard) rows(trunc, drop bool) []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []any
	kept := b.entries[:0]
	for _, e := range b.entries {
		if drop && e.done {
			delete(b.byKey, e.key)
			continue
		}
		kept = append(kept, e)
		out = append(out, statsRowOf(e.container, e.name, e.id, e.usage, e.valid, trunc))
	}
	b.entries = kept
	return out
}

func runStats(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	stream := !c.Bool("no-stream")
	board := &statsBoard{byKey: map[string]*statsEntry{}}
	named := c.Args().Slice()
	listed := len(named) == 0

	// follow starts the stream of one container; its first sample (or
	// failure) is reported on first.
	follow := func(container string, first chan<- error) {
		display := container
		if listed {
			display = shortID(container)
		}
		e, isNew := board.add(container, display)
		if !isNew {
			// Named twice: one stream does.
			if first != nil {
				first <- nil
			}
			return
		}
		go func() {
			err := readStats(ctx, cl, container, stream, func(s *types.StatsJSON) {
				board.update(e, s)
				if first != nil {
					first <- nil
					first = nil
				}
			})
			board.mu.Lock()
			e.done = true
			board.mu.Unlock()
			if first != nil {
				first <- err
			}
		}()
	}

	if listed {
		named, err = statsContainers(ctx, cl, c.Bool("all"))
		if err != nil {
			return err
		}
	}
	// Wait for everyone's first sample: a bad name fails the command.
	firsts := make(chan error, len(named))
	for _, n := range named {
		follow(n, firsts)
	}
	var failed []string
	for range named {
		if err := <-firsts; err != nil {
			failed = append(failed, daemonError(err))
		}
	}
	if len(failed) > 0 && !listed {
		return errorList(failed)
	}

	out := table{format: c.String("format"), def: statsDefaultFormat, headers: statsHeader}
	trunc := !c.Bool("no-trunc")
	if !stream {
		return out.write(os.Stdout, board.rows(trunc, false))
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		if listed && n%4 == 3 {
			// New containers join the display every two seconds.
			if ids, err := statsContainers(ctx, cl, c.Bool("all")); err == nil {
				for _, id := range ids {
					follow(id, nil)
				}
			}
		}
		var b strings.Builder
		if err := out.write(&b, board.rows(trunc, listed && !c.Bool("all"))); err != nil {
			return err
		}
		// Clear the screen, home the cursor, draw.
		fmt.Print("\033[2J\033[H" + b.String())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// statsContainers are the IDs stats follows when given no names: the
// running containers, or all with -a.
func statsContainers(ctx context.Context, cl *client.Client, all bool) ([]string, error) {
	list, err := cl.ContainerList(ctx, client.ContainerListOptions{All: all})
	if err != nil {
		return nil, errors.New(daemonError(err))
	}
	ids := make([]string, 0, len(list))
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// readStats reads a container's samples until the stream ends.
func readStats(ctx context.Context, cl *client.Client, container string, stream bool, fn func(*types.StatsJSON)) error {
	rc, err := cl.ContainerStats(ctx, container, stream)
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var s types.StatsJSON
		if err := dec.Decode(&s); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading the stats of %s: %w", container, err)
		}
		fn(&s)
	}
}
