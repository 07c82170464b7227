package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change the resource limits of a running container",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "file with linux.resources JSON to apply, or - for stdin (the other flags are then ignored)"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block I/O weight, 10 to 1000"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period in microseconds"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota in microseconds per period (-1: none)"},
		&cli.StringFlag{Name: "cpu-burst", Usage: "CPU CFS burst in microseconds"},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period in microseconds"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime in microseconds per period"},
		&cli.StringFlag{Name: "cpu-share", Aliases: []string{"cpu-shares"}, Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs the container may use (0-3,5)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes the container may use"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit in bytes (k, m, g suffixes; -1: none)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit in bytes"},
		&cli.StringFlag{Name: "memory-swap", Usage: "limit of memory plus swap in bytes (-1: unlimited swap)"},
		&cli.StringFlag{Name: "kernel-memory", Usage: "ignored (kernel memory limits are obsolete)"},
		&cli.StringFlag{Name: "kernel-memory-tcp", Usage: "kernel TCP buffer limit in bytes"},
		&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of processes (-1: none)"},
		&cli.StringFlag{Name: "l3-cache-schema", Hidden: true},
		&cli.StringFlag{Name: "mem-bw-schema", Hidden: true},
	},
	Action: func(ctx *cli.Context) error {
		c, err := load(ctx)
		if err != nil {
			return err
		}
		r, err := updateResources(ctx)
		if err != nil {
			return err
		}
		return c.Update(r)
	},
}

// updateResources reads -r, or builds the resources from the flags set.
func updateResources(ctx *cli.Context) (*rspec.LinuxResources, error) {
	if ctx.IsSet("l3-cache-schema") || ctx.IsSet("mem-bw-schema") {
		return nil, errors.New("update: Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported")
	}
	if path := ctx.String("resources"); path != "" {
		var in io.Reader = os.Stdin
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			in = f
		}
		var r rspec.LinuxResources
		dec := json.NewDecoder(in)
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("--resources %s: not linux.resources JSON: %w", path, err)
		}
		return &r, nil
	}
	p := flagParser{ctx: ctx}
	r := &rspec.LinuxResources{}
	mem := rspec.LinuxMemory{
		Limit:       p.bytes("memory"),
		Reservation: p.bytes("memory-reservation"),
		Swap:        p.bytes("memory-swap"),
		KernelTCP:   p.bytes("kernel-memory-tcp"),
	}
	if ctx.IsSet("kernel-memory") {
		p.bytes("kernel-memory") // checked, then ignored as runc does
	}
	if mem != (rspec.LinuxMemory{}) {
		r.Memory = &mem
	}
	cpu := rspec.LinuxCPU{
		Shares:          p.uint("cpu-share"),
		Quota:           p.int("cpu-quota"),
		Burst:           p.uint("cpu-burst"),
		Period:          p.uint("cpu-period"),
		RealtimeRuntime: p.int("cpu-rt-runtime"),
		RealtimePeriod:  p.uint("cpu-rt-period"),
		Cpus:            ctx.String("cpuset-cpus"),
		Mems:            ctx.String("cpuset-mems"),
	}
	if cpu != (rspec.LinuxCPU{}) {
		r.CPU = &cpu
	}
	if l := p.int("pids-limit"); l != nil {
		r.Pids = &rspec.LinuxPids{Limit: l}
	}
	if w := p.uint("blkio-weight"); w != nil {
		if *w > 1000 {
			p.fail("blkio-weight", ctx.String("blkio-weight"), "must be 10 to 1000")
		} else {
			v := uint16(*w)
			r.BlockIO = &rspec.LinuxBlockIO{Weight: &v}
		}
	}
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	return r, nil
}

// flagParser reads numeric flags, collecting every bad one.
type flagParser struct {
	ctx  *cli.Context
	errs []error
}

// err is every bad flag, on one line.
func (p *flagParser) err() error {
	msgs := make([]string, len(p.errs))
	for i, e := range p.errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

func (p *flagParser) fail(name, v, why string) {
	p.errs = append(p.errs, fmt.Errorf("--%s %q: %s", name, v, why))
}

func (p *flagParser) uint(name string) *uint64 {
	if !p.ctx.IsSet(name) {
		return nil
	}
	s := p.ctx.String(name)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		p.fail(name, s, "not a non-negative number")
		return nil
	}
	return &n
}

func (p *flagParser) int(name string) *int64 {
	if !p.ctx.IsSet(name) {
		return nil
	}
	s := p.ctx.String(name)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.fail(name, s, "not a number")
		return nil
	}
	return &n
}

func (p *flagParser) bytes(name string) *int64 {
	if !p.ctx.IsSet(name) {
		return nil
	}
	s := p.ctx.String(name)
	n, err := parseBytes(s)
	if err != nil {
		p.fail(name, s, err.Error())
		return nil
	}
	return &n
}

// parseBytes reads a byte count as Docker and runc do: a number with an
// optional binary unit (k, m, g, t, p; "kb", "KiB" alike), or -1.
func parseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	t = strings.TrimSuffix(t, "i")
	mult := int64(1)
	if t != "" {
		if i := strings.IndexByte("kmgtp", t[len(t)-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			t = strings.TrimSpace(t[:len(t)-1])
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || t == "" || strings.ContainsAny(t, "eE+-") {
		return 0, errors.New("want a byte count such as 268435456, 256m or 1g (or -1)")
	}
	v := f * float64(mult)
	if v >= 1<<63 {
		return 0, errors.New("too large")
	}
	return int64(v), nil
}
