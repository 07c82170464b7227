package cgroups

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// deviceFilter compiles device rules into a BPF_PROG_TYPE_CGROUP_DEVICE
// program, cgroup v2's replacement for devices.allow/deny. It gives what
// the v1 files give after "deny all" and the rules in order: the last rule
// that matches decides, and a device no rule matches is denied. An allow
// rule matches only if it grants every access asked for (open for read
// and write needs both); a deny rule matches if it refuses any of them.
//
// The program reads struct bpf_cgroup_dev_ctx: access_type (device type
// in the low 16 bits, access bits above), major, minor.
func deviceFilter(rules []rspec.LinuxDeviceCgroup) asm.Instructions {
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word),
	}
	label := func(i int) string { return "rule" + strconv.Itoa(i) }
	block := 0
	for i := len(rules) - 1; i >= 0; i-- {
		d := rules[i]
		next := label(block + 1)
		var cond asm.Instructions
		switch d.Type {
		case "c":
			cond = append(cond, asm.JNE.Imm32(asm.R2, unix.BPF_DEVCG_DEV_CHAR, next))
		case "b":
			cond = append(cond, asm.JNE.Imm32(asm.R2, unix.BPF_DEVCG_DEV_BLOCK, next))
		}
		if acc := bpfAccess(d.Access); acc != bpfAll {
			if d.Allow { // asked & ^granted must be empty
				cond = append(cond, asm.Mov.Reg32(asm.R1, asm.R3), asm.And.Imm32(asm.R1, bpfAll&^acc), asm.JNE.Imm32(asm.R1, 0, next))
			} else { // asked & refused must not be empty
				cond = append(cond, asm.Mov.Reg32(asm.R1, asm.R3), asm.And.Imm32(asm.R1, acc), asm.JEq.Imm32(asm.R1, 0, next))
			}
		}
		if d.Major != nil && *d.Major != -1 {
			cond = append(cond, asm.JNE.Imm32(asm.R4, int32(uint32(*d.Major)), next))
		}
		if d.Minor != nil && *d.Minor != -1 {
			cond = append(cond, asm.JNE.Imm32(asm.R5, int32(uint32(*d.Minor)), next))
		}
		var verdict int32
		if d.Allow {
			verdict = 1
		}
		body := append(cond, asm.Mov.Imm(asm.R0, verdict), asm.Return())
		body[0] = body[0].WithSymbol(label(block))
		insts = append(insts, body...)
		block++
		if len(cond) == 0 {
			// Matches every device: earlier rules can never decide, and
			// the verifier refuses code that cannot be reached.
			return insts
		}
	}
	return append(insts, asm.Mov.Imm(asm.R0, 0).WithSymbol(label(block)), asm.Return())
}

const bpfAll = unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD

func bpfAccess(access string) int32 {
	if access == "" {
		return bpfAll
	}
	var a int32
	for _, c := range access {
		switch c {
		case 'r':
			a |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			a |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			a |= unix.BPF_DEVCG_ACC_MKNOD
		}
	}
	return a
}

// setDeviceFilter loads the rules' program and attaches it to the cgroup
// directory, then detaches the programs attached before (an update): with
// several attached, a device must pass all of them.
func setDeviceFilter(dir string, rules []rspec.LinuxDeviceCgroup) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.CGroupDevice,
		Instructions: deviceFilter(rules),
		License:      "Apache-2.0",
	})
	if err != nil {
		return fmt.Errorf("linux.resources.devices: load the device filter: %w", err)
	}
	defer prog.Close()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("linux.resources.devices: open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	old, qerr := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: fd, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	})
	if err != nil {
		return fmt.Errorf("linux.resources.devices: attach the device filter to %s: %w", dir, err)
	}
	if qerr != nil {
		return nil // nothing known to replace
	}
	var errs []error
	for _, p := range old.Programs {
		o, err := ebpf.NewProgramFromID(p.ID)
		if err == nil {
			err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: fd, Program: o, Attach: ebpf.AttachCGroupDevice})
			o.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("linux.resources.devices: detach the old device filter %d from %s: %w", p.ID, dir, err))
		}
	}
	return errors.Join(errs...)
}
