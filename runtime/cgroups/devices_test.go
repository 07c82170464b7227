package cgroups

import (
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func dev(allow bool, typ string, major, minor int64, access string) rspec.LinuxDeviceCgroup {
	return rspec.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: &major, Minor: &minor, Access: access}
}

var denyAll = rspec.LinuxDeviceCgroup{Allow: false, Access: "rwm"}

func TestDeviceLinesV1(t *testing.T) {
	tests := []struct {
		d    rspec.LinuxDeviceCgroup
		want []string
	}{
		{denyAll, []string{"a"}},
		{rspec.LinuxDeviceCgroup{Allow: true}, []string{"a"}},
		{dev(true, "c", 1, 3, "rwm"), []string{"c 1:3 rwm"}},
		{dev(true, "c", 136, -1, "rw"), []string{"c 136:* rw"}},
		{rspec.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"}, []string{"b *:* m"}},
		// The kernel would read these "a" rules as "every device, rwm".
		{dev(true, "a", -1, -1, "m"), []string{"c *:* m", "b *:* m"}},
		{dev(false, "a", 1, -1, "rwm"), []string{"c 1:* rwm", "b 1:* rwm"}},
	}
	for _, tt := range tests {
		if got := deviceLinesV1(tt.d); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("deviceLinesV1(%+v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// request is one device access the kernel asks the filter about.
type request struct {
	typ          string // "c" or "b"
	access       string
	major, minor uint32
	allow        bool
}

var filterTests = []struct {
	name  string
	rules []rspec.LinuxDeviceCgroup
	reqs  []request
}{
	{
		name: "default container",
		rules: []rspec.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "rwm"), dev(true, "c", 136, -1, "rw"),
			{Allow: true, Type: "a", Access: "m"}},
		reqs: []request{
			{"c", "r", 1, 3, true}, {"c", "rw", 1, 3, true}, {"c", "r", 1, 5, false},
			{"c", "rw", 136, 4, true}, {"c", "m", 136, 4, true}, {"c", "rwm", 136, 4, false},
			{"b", "m", 8, 0, true}, {"b", "r", 8, 0, false},
		},
	},
	{
		name:  "allow all but writing one device",
		rules: []rspec.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}, dev(false, "c", 1, 3, "w")},
		reqs:  []request{{"c", "r", 1, 3, true}, {"c", "w", 1, 3, false}, {"c", "rw", 1, 3, false}, {"c", "w", 1, 5, true}, {"b", "w", 1, 3, true}},
	},
	{
		name:  "partial allow needs every access asked",
		rules: []rspec.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "r")},
		reqs:  []request{{"c", "r", 1, 3, true}, {"c", "rw", 1, 3, false}, {"c", "w", 1, 3, false}},
	},
	{
		name:  "no rules deny everything",
		rules: nil,
		reqs:  []request{{"c", "r", 1, 3, false}},
	},
	{
		name:  "a last allow-all rule wins",
		rules: []rspec.LinuxDeviceCgroup{denyAll, dev(true, "c", 1, 3, "rwm"), {Allow: true, Type: "a", Access: "rwm"}},
		reqs:  []request{{"c", "rw", 9, 9, true}, {"b", "m", 8, 0, true}},
	},
}

func TestDeviceFilter(t *testing.T) {
	for _, tt := range filterTests {
		t.Run(tt.name, func(t *testing.T) {
			prog := deviceFilter(tt.rules)
			for _, r := range tt.reqs {
				got, err := runFilter(prog, r)
				if err != nil {
					t.Fatalf("%v\n%v", err, prog)
				}
				if got != r.allow {
					t.Errorf("%s %s %d:%d: allowed=%v, want %v\n%v", r.typ, r.access, r.major, r.minor, got, r.allow, prog)
				}
			}
		})
	}
}

// runFilter interprets the few BPF instructions deviceFilter emits, on
// the context the kernel would pass for r.
func runFilter(prog asm.Instructions, r request) (bool, error) {
	typ := uint32(unix.BPF_DEVCG_DEV_CHAR)
	if r.typ == "b" {
		typ = unix.BPF_DEVCG_DEV_BLOCK
	}
	ctx := [3]uint32{uint32(bpfAccess(r.access))<<16 | typ, r.major, r.minor}
	labels := map[string]int{}
	for i, ins := range prog {
		if s := ins.Symbol(); s != "" {
			labels[s] = i
		}
	}
	var reg [11]uint64
	for pc, steps := 0, 0; pc < len(prog); steps++ {
		if steps > len(prog) {
			return false, fmt.Errorf("loop at %d", pc)
		}
		ins := prog[pc]
		op := ins.OpCode
		switch {
		case op.Class().IsLoad():
			reg[ins.Dst] = uint64(ctx[ins.Offset/4])
		case op.Class().IsALU():
			src := reg[ins.Src]
			if op.Source() == asm.ImmSource {
				src = uint64(ins.Constant)
			}
			var v uint64
			switch op.ALUOp() {
			case asm.Mov:
				v = src
			case asm.And:
				v = reg[ins.Dst] & src
			case asm.RSh:
				v = reg[ins.Dst] >> src
			default:
				return false, fmt.Errorf("unexpected %v", ins)
			}
			if op.Class() == asm.ALUClass {
				v = uint64(uint32(v))
			}
			reg[ins.Dst] = v
		case op.Class().IsJump():
			var taken bool
			switch op.JumpOp() {
			case asm.Exit:
				return reg[0] == 1, nil
			case asm.JNE:
				taken = uint32(reg[ins.Dst]) != uint32(ins.Constant)
			case asm.JEq:
				taken = uint32(reg[ins.Dst]) == uint32(ins.Constant)
			default:
				return false, fmt.Errorf("unexpected %v", ins)
			}
			if taken {
				to, ok := labels[ins.Reference()]
				if !ok {
					return false, fmt.Errorf("jump to missing label %q", ins.Reference())
				}
				pc = to
				continue
			}
		default:
			return false, fmt.Errorf("unexpected %v", ins)
		}
		pc++
	}
	return false, fmt.Errorf("ran off the end")
}

// TestDeviceFilterLoads has the kernel's verifier check every program.
func TestDeviceFilterLoads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	for _, tt := range filterTests {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, Instructions: deviceFilter(tt.rules), License: "Apache-2.0"})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		prog.Close()
	}
}

func attachedDevicePrograms(t *testing.T, dir string) int {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	q, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		t.Fatal(err)
	}
	return len(q.Programs)
}

func TestDeviceRules(t *testing.T) {
	l := &rspec.Linux{
		Resources: &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{denyAll}},
		Devices: []rspec.LinuxDevice{
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
			{Path: "/dev/fifo", Type: "p"},
			{Path: "/dev/tty1", Type: "u", Major: 4, Minor: 1},
		},
	}
	rules := DeviceRules(l)
	if !reflect.DeepEqual(rules[0], denyAll) {
		t.Fatalf("first rule %+v, want the config's own", rules[0])
	}
	if n := len(rules); n != 1+len(defaultRules)+2 {
		t.Fatalf("%d rules, want the config's, the defaults and two of linux.devices: %+v", n, rules)
	}
	prog := deviceFilter(rules)
	for _, r := range []request{
		{"c", "rw", 1, 3, true}, {"c", "rw", 136, 7, true}, {"c", "rw", 10, 229, true}, {"c", "rw", 4, 1, true},
		{"b", "m", 8, 1, true}, {"c", "r", 1, 4, false}, {"b", "r", 8, 1, false},
	} {
		if got, err := runFilter(prog, r); err != nil || got != r.allow {
			t.Errorf("%s %s %d:%d: allowed=%v (%v), want %v", r.typ, r.access, r.major, r.minor, got, err, r.allow)
		}
	}
	if got := DeviceRules(nil); len(got) != len(defaultRules) {
		t.Errorf("DeviceRules(nil) = %d rules, want the %d defaults", len(got), len(defaultRules))
	}
}
