package seccomp

import (
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// flagTsync is not among the spec's named flags, but runc's users pass it; a
// single-threaded exec does not need it, it is honoured when asked for.
const flagTsync rspec.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

var actions = map[rspec.LinuxSeccompAction]libseccomp.ScmpAction{
	// SCMP_ACT_KILL is the kernel's original kill, which kills the thread.
	rspec.ActKill:        libseccomp.ActKillThread,
	rspec.ActKillThread:  libseccomp.ActKillThread,
	rspec.ActKillProcess: libseccomp.ActKillProcess,
	rspec.ActTrap:        libseccomp.ActTrap,
	rspec.ActErrno:       libseccomp.ActErrno,
	rspec.ActTrace:       libseccomp.ActTrace,
	rspec.ActAllow:       libseccomp.ActAllow,
	rspec.ActLog:         libseccomp.ActLog,
	rspec.ActNotify:      libseccomp.ActNotify,
}

var operators = map[rspec.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	rspec.OpNotEqual:     libseccomp.CompareNotEqual,
	rspec.OpLessThan:     libseccomp.CompareLess,
	rspec.OpLessEqual:    libseccomp.CompareLessOrEqual,
	rspec.OpEqualTo:      libseccomp.CompareEqual,
	rspec.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	rspec.OpGreaterThan:  libseccomp.CompareGreater,
	rspec.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

var archs = map[rspec.Arch]libseccomp.ScmpArch{
	rspec.ArchX86:         libseccomp.ArchX86,
	rspec.ArchX86_64:      libseccomp.ArchAMD64,
	rspec.ArchX32:         libseccomp.ArchX32,
	rspec.ArchARM:         libseccomp.ArchARM,
	rspec.ArchAARCH64:     libseccomp.ArchARM64,
	rspec.ArchMIPS:        libseccomp.ArchMIPS,
	rspec.ArchMIPS64:      libseccomp.ArchMIPS64,
	rspec.ArchMIPS64N32:   libseccomp.ArchMIPS64N32,
	rspec.ArchMIPSEL:      libseccomp.ArchMIPSEL,
	rspec.ArchMIPSEL64:    libseccomp.ArchMIPSEL64,
	rspec.ArchMIPSEL64N32: libseccomp.ArchMIPSEL64N32,
	rspec.ArchPPC:         libseccomp.ArchPPC,
	rspec.ArchPPC64:       libseccomp.ArchPPC64,
	rspec.ArchPPC64LE:     libseccomp.ArchPPC64LE,
	rspec.ArchS390:        libseccomp.ArchS390,
	rspec.ArchS390X:       libseccomp.ArchS390X,
	rspec.ArchPARISC:      libseccomp.ArchPARISC,
	rspec.ArchPARISC64:    libseccomp.ArchPARISC64,
	rspec.ArchRISCV64:     libseccomp.ArchRISCV64,
	rspec.ArchLOONGARCH64: libseccomp.ArchLOONGARCH64,
	rspec.ArchM68K:        libseccomp.ArchM68K,
	rspec.ArchSH:          libseccomp.ArchSH,
	rspec.ArchSHEB:        libseccomp.ArchSHEB,
}
