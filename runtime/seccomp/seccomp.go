// Package seccomp compiles the linux.seccomp section of a container's
// config.json into a BPF program and loads it into the container's init
// right before execve.
//
// Build (or BuildCached) does the slow, fallible work: libseccomp turns the
// profile into BPF. Load is then a single seccomp(2) call on the calling
// thread, with no allocation, so that as little as possible runs under the
// filter before execve. The filter is not synced to the other threads of
// the Go runtime: the caller holds runtime.LockOSThread and execs from the
// same thread, which carries the filter into the new program. The kernel
// wants no_new_privs or CAP_SYS_ADMIN at Load: without
// process.noNewPrivileges, Load must come before capabilities are dropped.
//
// A profile that denies execve, or anything the runtime does between Load
// and execve, makes the container fail to start; that is the profile's
// problem, as with runc.
package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// maxInsns is the kernel's limit on the length of one classic BPF program
// (BPF_MAXINSNS).
const maxInsns = 4096

// Filter is a compiled filter, built before privileges are dropped (building
// may allocate, read /proc, fail on bad input). A nil *Filter stands for "no
// seccomp": its Load does nothing.
type Filter struct {
	prog     []unix.SockFilter
	fprog    unix.SockFprog // points into prog; kept here so Load allocates nothing
	flags    uintptr
	notify   bool
	released bool
}

// Build validates s and compiles it. A nil s gives a nil *Filter.
//
// Syscall names that libseccomp does not know are skipped, as runc does: a
// profile lists syscalls that this kernel or architecture may lack. A rule
// none of whose names is known is an error, though: it is a typo, not a
// newer profile. An unknown action, operator, architecture or flag is an
// error naming the config.json field.
func Build(s *rspec.LinuxSeccomp) (*Filter, error) {
	if s == nil {
		return nil, nil
	}
	def, err := toAction(s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet")
	if err != nil {
		return nil, err
	}
	f := &Filter{}
	waitKillable := false
	for i, fl := range s.Flags {
		switch fl {
		case rspec.LinuxSeccompFlagLog:
			f.flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case rspec.LinuxSeccompFlagSpecAllow:
			f.flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case rspec.LinuxSeccompFlagWaitKillableRecv:
			waitKillable = true
		case flagTsync:
			f.flags |= unix.SECCOMP_FILTER_FLAG_TSYNC
		default:
			return nil, fmt.Errorf("linux.seccomp.flags[%d]: unknown flag %q", i, fl)
		}
	}

	lf, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp.defaultAction: %w", err)
	}
	defer lf.Release()
	// A binary tree of syscall numbers instead of a list: the kernel runs
	// the filter for each syscall number when it loads it (to cache the
	// constant answers), and at every syscall the cache does not answer.
	// That makes Load three times faster for a cost at Build, which
	// BuildCached saves. Old libraries without it keep the list.
	_ = lf.SetOptimize(2)

	for i, a := range s.Architectures {
		arch, ok := archs[a]
		if !ok {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: unknown architecture %q", i, a)
		}
		// The native architecture is already in a new filter and adding it
		// twice is an error.
		if present, err := lf.IsArchPresent(arch); err == nil && present {
			continue
		}
		if err := lf.AddArch(arch); err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d] %s: %w", i, a, err)
		}
	}

	for i := range s.Syscalls {
		sc := &s.Syscalls[i]
		field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		act, err := toAction(sc.Action, sc.ErrnoRet, field+".action", field+".errnoRet")
		if err != nil {
			return nil, err
		}
		conds, split, err := conditions(field, sc.Args)
		if err != nil {
			return nil, err
		}
		if sc.Action == rspec.ActNotify {
			f.notify = true
		}
		known := 0
		for _, name := range sc.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue // unknown here: skipped, as runc does
			}
			known++
			// libseccomp refuses a rule that repeats the default action;
			// it would change nothing anyway.
			if act == def {
				continue
			}
			if err := addRule(lf, nr, act, conds, split); err != nil {
				return nil, fmt.Errorf("%s: syscall %q: %w", field, name, err)
			}
		}
		if known == 0 && len(sc.Names) > 0 {
			return nil, fmt.Errorf("%s.names: no syscall known here among %q", field, sc.Names)
		}
	}

	if f.notify {
		if maj, min, _ := libseccomp.GetLibraryVersion(); maj < 2 || maj == 2 && min < 5 {
			return nil, fmt.Errorf("linux.seccomp: %s needs libseccomp 2.5 or later, this is %d.%d", rspec.ActNotify, maj, min)
		}
		f.flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if waitKillable {
			f.flags |= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		}
		// With TSYNC the kernel cannot tell a listener fd from the id of a
		// thread that failed to sync unless told to report that as ESRCH.
		if f.flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			f.flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	}
	// WAIT_KILLABLE_RECV without a listener means nothing, and the kernel
	// refuses it: it is dropped.

	if f.prog, err = export(lf); err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	f.fprog = unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	return f, nil
}

// Load installs the filter on the calling thread, which must be locked
// (runtime.LockOSThread) and must be the thread that then calls execve. The
// thread needs no_new_privs or CAP_SYS_ADMIN. It returns the seccomp notify
// fd when the profile uses SCMP_ACT_NOTIFY, else -1; the caller owns that fd
// and must hand it to linux.seccomp.listenerPath (see SendListener).
func (f *Filter) Load() (listenerFd int, err error) {
	if f == nil {
		return -1, nil
	}
	if f.released {
		return -1, errors.New("seccomp: load of a released filter")
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flags, uintptr(unsafe.Pointer(&f.fprog)))
	if errno != 0 {
		if errno == unix.EACCES {
			return -1, fmt.Errorf("loading seccomp filter: %w (the thread needs no_new_privs or CAP_SYS_ADMIN)", errno)
		}
		return -1, fmt.Errorf("loading seccomp filter: %w", errno)
	}
	if !f.notify {
		return -1, nil
	}
	return int(r), nil
}

// Release frees the compiled program. The Filter cannot be loaded after.
func (f *Filter) Release() {
	if f == nil {
		return
	}
	f.prog, f.fprog, f.released = nil, unix.SockFprog{}, true
}

// addRule adds one rule per syscall, or, when several conditions test the
// same argument (which libseccomp refuses in one rule), one rule per
// condition, as runc does.
func addRule(lf *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds []libseccomp.ScmpCondition, split bool) error {
	if len(conds) == 0 {
		return lf.AddRule(nr, act)
	}
	if !split {
		return lf.AddRuleConditional(nr, act, conds)
	}
	for i := range conds {
		if err := lf.AddRuleConditional(nr, act, conds[i:i+1]); err != nil {
			return err
		}
	}
	return nil
}

// conditions converts the args of one syscalls entry and reports whether two
// of them test the same argument index.
func conditions(field string, args []rspec.LinuxSeccompArg) ([]libseccomp.ScmpCondition, bool, error) {
	if len(args) == 0 {
		return nil, false, nil
	}
	conds := make([]libseccomp.ScmpCondition, len(args))
	var seen uint8
	split := false
	for j, a := range args {
		if a.Index > 5 {
			return nil, false, fmt.Errorf("%s.args[%d].index: %d is above 5", field, j, a.Index)
		}
		op, ok := operators[a.Op]
		if !ok {
			return nil, false, fmt.Errorf("%s.args[%d].op: unknown operator %q", field, j, a.Op)
		}
		if seen&(1<<a.Index) != 0 {
			split = true
		}
		seen |= 1 << a.Index
		conds[j] = libseccomp.ScmpCondition{Argument: a.Index, Op: op, Operand1: a.Value}
		if op == libseccomp.CompareMaskedEqual {
			// value is the mask, valueTwo what the masked argument must equal.
			conds[j].Operand2 = a.ValueTwo
		}
	}
	return conds, split, nil
}

// toAction converts an action and its errnoRet. ERRNO and TRACE without one
// return EPERM, as the spec asks; the other actions refuse one.
func toAction(a rspec.LinuxSeccompAction, ret *uint, field, retField string) (libseccomp.ScmpAction, error) {
	act, ok := actions[a]
	if !ok {
		return 0, fmt.Errorf("%s: unknown action %q", field, a)
	}
	if act != libseccomp.ActErrno && act != libseccomp.ActTrace {
		if ret != nil {
			return 0, fmt.Errorf("%s: %s takes no errno", retField, a)
		}
		return act, nil
	}
	code := uint(unix.EPERM)
	if ret != nil {
		code = *ret
	}
	// The kernel keeps 16 bits of data beside the action.
	if code > 0xffff {
		return 0, fmt.Errorf("%s: %d does not fit in 16 bits", retField, code)
	}
	return act.SetReturnCode(int16(uint16(code))), nil
}

// export returns the filter's BPF program. libseccomp 2.6 exports to memory;
// 2.5 only to an fd, for which a memfd serves.
func export(lf *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	b, err := lf.ExportBPFMem()
	if err != nil {
		if b, err = exportFd(lf); err != nil {
			return nil, err
		}
	}
	n := len(b) / 8 // sizeof(struct sock_filter)
	if n == 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("libseccomp exported %d bytes, not a BPF program", len(b))
	}
	if n > maxInsns {
		return nil, fmt.Errorf("the filter compiles to %d BPF instructions, above the kernel's limit of %d", n, maxInsns)
	}
	return decodeProg(b), nil
}

// decodeProg decodes struct sock_filter entries in native byte order.
func decodeProg(b []byte) []unix.SockFilter {
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		r := b[i*8:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(r),
			Jt:   r[2],
			Jf:   r[3],
			K:    binary.NativeEndian.Uint32(r[4:]),
		}
	}
	return prog
}

func exportFd(lf *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for the BPF program: %w", err)
	}
	file := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer file.Close()
	if err := lf.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("exporting BPF: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("exporting BPF: %w", err)
	}
	b := make([]byte, st.Size())
	if _, err := file.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("reading exported BPF: %w", err)
	}
	return b, nil
}
