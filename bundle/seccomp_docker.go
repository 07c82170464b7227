package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerProfile is Docker's seccomp profile format (profiles/seccomp in
// moby): the OCI one plus per-architecture groups and rules that apply
// only for some architectures, capabilities or kernels.
type dockerProfile struct {
	DefaultAction   rspec.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures   []rspec.Arch             `json:"architectures,omitempty"`
	ArchMap         []struct {
		Arch      rspec.Arch   `json:"architecture"`
		SubArches []rspec.Arch `json:"subArchitectures"`
	} `json:"archMap,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Flags            []rspec.LinuxSeccompFlag `json:"flags,omitempty"`
	Syscalls         []dockerSyscall          `json:"syscalls"`
}

type dockerSyscall struct {
	Name     string                   `json:"name,omitempty"`
	Names    []string                 `json:"names,omitempty"`
	Action   rspec.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []rspec.LinuxSeccompArg  `json:"args"`
	Comment  string                   `json:"comment"`
	Includes dockerFilter             `json:"includes"`
	Excludes dockerFilter             `json:"excludes"`
}

type dockerFilter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// goArchToSeccomp names the host architecture as Docker's profile does.
var goArchToSeccomp = map[string]rspec.Arch{
	"386": rspec.ArchX86, "amd64": rspec.ArchX86_64, "arm": rspec.ArchARM, "arm64": rspec.ArchAARCH64,
	"mips64": rspec.ArchMIPS64, "mips64le": rspec.ArchMIPSEL64, "ppc64le": rspec.ArchPPC64LE,
	"riscv64": rspec.ArchRISCV64, "s390x": rspec.ArchS390X,
}

// DockerSeccomp converts a seccomp profile in Docker's JSON format into the
// OCI one for a container whose bounding set is caps, on this host: the
// archMap group of the host's architecture; rules kept only when their
// includes match (every cap held, the host's arch, the kernel at least
// minKernel) and their excludes do not (a cap held, the arch, the kernel).
func DockerSeccomp(data []byte, caps []string) (*rspec.LinuxSeccomp, error) {
	var p dockerProfile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if p.DefaultAction == "" {
		return nil, errors.New("defaultAction is required")
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, errors.New("both architectures and archMap are given: use one")
	}
	kernel, err := kernelRelease()
	if err != nil {
		return nil, err
	}
	host := goArchToSeccomp[runtime.GOARCH]
	sc := &rspec.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  p.DefaultErrnoRet,
		Architectures:    p.Architectures,
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
		Flags:            p.Flags,
	}
	for _, a := range p.ArchMap {
		if a.Arch == host {
			sc.Architectures = append(append(sc.Architectures, a.Arch), a.SubArches...)
		}
	}
	for i, call := range p.Syscalls {
		if call.Name != "" && len(call.Names) > 0 {
			return nil, fmt.Errorf("syscalls[%d]: both name and names are given: use one", i)
		}
		keep, err := call.applies(string(host), caps, kernel)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		if !keep {
			continue
		}
		names := call.Names
		if call.Name != "" {
			names = []string{call.Name}
		}
		sc.Syscalls = append(sc.Syscalls, rspec.LinuxSyscall{
			Names: names, Action: call.Action, ErrnoRet: call.ErrnoRet, Args: call.Args,
		})
	}
	return sc, nil
}

func (c *dockerSyscall) applies(arch string, caps []string, kernel [2]int) (bool, error) {
	ex := c.Excludes
	if containsString(ex.Arches, arch) {
		return false, nil
	}
	for _, cp := range ex.Caps {
		if containsString(caps, cp) {
			return false, nil
		}
	}
	if ex.MinKernel != "" {
		v, err := parseKernel(ex.MinKernel)
		if err != nil {
			return false, fmt.Errorf("excludes.minKernel: %w", err)
		}
		if !kernelBefore(kernel, v) {
			return false, nil
		}
	}
	in := c.Includes
	if len(in.Arches) > 0 && !containsString(in.Arches, arch) {
		return false, nil
	}
	for _, cp := range in.Caps {
		if !containsString(caps, cp) {
			return false, nil
		}
	}
	if in.MinKernel != "" {
		v, err := parseKernel(in.MinKernel)
		if err != nil {
			return false, fmt.Errorf("includes.minKernel: %w", err)
		}
		if kernelBefore(kernel, v) {
			return false, nil
		}
	}
	return true, nil
}

// kernelRelease is the running kernel's major.minor.
func kernelRelease() ([2]int, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return [2]int{}, fmt.Errorf("uname: %w", err)
	}
	return parseKernel(unix.ByteSliceToString(u.Release[:]))
}

// parseKernel reads "5.10" or "6.1.0-13-amd64" as major and minor.
func parseKernel(s string) ([2]int, error) {
	major, rest, _ := strings.Cut(s, ".")
	minor := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = rest[:i]
	}
	a, err1 := strconv.Atoi(major)
	b, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return [2]int{}, fmt.Errorf("kernel version %q: want major.minor", s)
	}
	return [2]int{a, b}, nil
}

func kernelBefore(a, b [2]int) bool {
	return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
}
