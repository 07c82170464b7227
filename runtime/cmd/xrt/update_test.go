package main

import (
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"268435456", 268435456, false}, {"256m", 256 << 20, false}, {"256M", 256 << 20, false},
		{"1g", 1 << 30, false}, {"1GiB", 1 << 30, false}, {"64kb", 64 << 10, false}, {"1.5k", 1536, false},
		{"-1", -1, false}, {"-5", 0, true}, {"abc", 0, true}, {"", 0, true}, {"m", 0, true},
		{"1e9", 0, true}, {"99999999999p", 0, true},
	} {
		got, err := parseBytes(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// parseUpdate runs updateResources on args as the command line would.
func parseUpdate(t *testing.T, args ...string) (r *rspec.LinuxResources, err error) {
	t.Helper()
	cmd := *updateCommand
	cmd.Action = func(ctx *cli.Context) error {
		r, err = updateResources(ctx)
		return nil
	}
	app := &cli.App{Commands: []*cli.Command{&cmd}}
	if runErr := app.Run(append([]string{"xrt", "update"}, args...)); runErr != nil {
		t.Fatal(runErr)
	}
	return r, err
}

func TestUpdateFlags(t *testing.T) {
	r, err := parseUpdate(t, "--memory", "100m", "--memory-swap", "-1", "--cpu-shares", "512",
		"--cpu-quota", "-1", "--cpuset-cpus", "0", "--pids-limit", "50", "--blkio-weight", "300", "--kernel-memory", "1g")
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 100<<20 || *r.Memory.Swap != -1 || *r.CPU.Shares != 512 || *r.CPU.Quota != -1 ||
		r.CPU.Cpus != "0" || *r.Pids.Limit != 50 || *r.BlockIO.Weight != 300 {
		t.Errorf("got %+v %+v %+v %+v", r.Memory, r.CPU, r.Pids, r.BlockIO)
	}
	//lint:ignore SA1019 checking that the obsolete field stays unset
	if r.Memory.Kernel != nil || r.CPU.Period != nil || r.Memory.Reservation != nil {
		t.Error("flags not given, or ignored, must stay nil")
	}
	if r, err := parseUpdate(t); err != nil || r.Memory != nil || r.CPU != nil || r.Pids != nil {
		t.Errorf("no flags: %+v, %v", r, err)
	}
	_, err = parseUpdate(t, "--memory", "lots", "--cpu-period", "-3", "--blkio-weight", "5000")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"--memory", "--cpu-period", "--blkio-weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
