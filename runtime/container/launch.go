package container

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/initproc"
	"github.com/xrt-dev/xrt/specs"
)

// nsPlan says how init gets its namespaces. The fast path creates them all
// with clone flags, in Go. Joining an existing namespace, or a time
// namespace (which needs unshare before a fork), goes through the C
// constructor in package nsenter: "join mode".
type nsPlan struct {
	cloneFlags  uintptr
	nsenter     []string // "kind=path" and "new=..." words for _XRT_NSENTER
	joinMode    bool
	newUser     bool
	newCgroupNS bool // init unshares it after the cgroup is joined
}

func planNamespaces(l *rspec.Linux) (nsPlan, error) {
	var p nsPlan
	if l == nil {
		return p, nil
	}
	var newFlags uintptr
	for i, ns := range l.Namespaces {
		flag, ok := specs.NamespaceFlag(ns.Type)
		if !ok {
			return p, fmt.Errorf("linux.namespaces[%d].type: unknown namespace type %q", i, ns.Type)
		}
		if ns.Path != "" {
			p.joinMode = true
			p.nsenter = append(p.nsenter, nsenterName(ns.Type)+"="+ns.Path)
			continue
		}
		switch ns.Type {
		case rspec.CgroupNamespace:
			p.newCgroupNS = true
		case rspec.TimeNamespace:
			p.joinMode = true
			newFlags |= flag
		case rspec.UserNamespace:
			p.newUser = true
			newFlags |= flag
		default:
			newFlags |= flag
		}
	}
	if len(l.TimeOffsets) > 0 {
		var offs []string
		for name, off := range l.TimeOffsets {
			offs = append(offs, fmt.Sprintf("%s:%d:%d", name, off.Secs, off.Nanosecs))
		}
		p.nsenter = append(p.nsenter, "offsets="+strings.Join(offs, ","))
	}
	if p.joinMode {
		p.nsenter = append(p.nsenter, fmt.Sprintf("new=%#x", newFlags))
	} else {
		p.cloneFlags = newFlags
	}
	return p, nil
}

// nsenterName maps the spec's type names to /proc/PID/ns names.
func nsenterName(t rspec.LinuxNamespaceType) string {
	switch t {
	case rspec.MountNamespace:
		return "mnt"
	case rspec.NetworkNamespace:
		return "net"
	}
	return string(t)
}

func idMaps(m []rspec.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

// writeIDMaps writes the maps of a user namespace made in join mode.
func writeIDMaps(pid int, l *rspec.Linux) error {
	format := func(m []rspec.LinuxIDMapping) []byte {
		var b strings.Builder
		for _, e := range m {
			fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
		}
		return []byte(b.String())
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if err := os.WriteFile(dir+"uid_map", format(l.UIDMappings), 0); err != nil {
		return fmt.Errorf("linux.uidMappings: %w", err)
	}
	if err := os.WriteFile(dir+"gid_map", format(l.GIDMappings), 0); err != nil {
		return fmt.Errorf("linux.gidMappings: %w", err)
	}
	return nil
}

// selfExe returns a handle on our own binary through which no one can write
// it: a detached read-only bind mount of /proc/self/exe. A container process
// that reaches init's /proc/PID/exe gets EROFS instead of the host's xrt
// (CVE-2019-5736). Where mounts are not allowed, a sealed memfd copy.
func selfExe() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err == nil {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err == nil {
			return os.NewFile(uintptr(fd), "xrt"), nil
		}
		unix.Close(fd)
	}
	return sealedCopy()
}

func sealedCopy() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("xrt", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("protect the runtime binary: %w", err)
	}
	f := os.NewFile(uintptr(fd), "xrt")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, err
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// initProc is the `xrt init` to start: its path (our own binary through a
// read-only handle), environment, fds and clone attributes.
type initProc struct {
	path string
	attr *syscall.ProcAttr
}

// initCmd prepares the start of `xrt init`. files are passed to init as fds
// 3, 4, ...; the returned file is the read-only handle on our binary that
// init is exec'd through, for the caller to close after start.
func initCmd(plan nsPlan, l *rspec.Linux, files []*os.File, syncFd int) (*initProc, *os.File, error) {
	exe, err := selfExe()
	if err != nil {
		return nil, nil, err
	}
	exeFd := 3 + len(files)
	p := &initProc{
		path: "/proc/self/fd/" + strconv.Itoa(exeFd),
		attr: &syscall.ProcAttr{
			// One P and no GOMAXPROCS tracking: init needs no more, and
			// the Go runtime starts sooner.
			Env:   []string{initproc.EnvSyncFd + "=" + strconv.Itoa(syncFd), "GOMAXPROCS=1", "GODEBUG=updatemaxprocs=0"},
			Files: []uintptr{0, 1, 2},
			Sys:   &syscall.SysProcAttr{Cloneflags: plan.cloneFlags},
		},
	}
	for _, f := range append(files, exe) {
		p.attr.Files = append(p.attr.Files, f.Fd())
	}
	if plan.joinMode {
		words := append([]string{"fd=" + strconv.Itoa(syncFd)}, plan.nsenter...)
		p.attr.Env = append(p.attr.Env, "_XRT_NSENTER="+strings.Join(words, " "))
	} else if plan.newUser {
		sys := p.attr.Sys
		sys.UidMappings = idMaps(l.UIDMappings)
		sys.GidMappings = idMaps(l.GIDMappings)
		sys.GidMappingsEnableSetgroups = true
		// Become the namespace's root before exec, or exec would drop
		// every capability of an unmapped (overflow) uid.
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	return p, exe, nil
}

// start starts init. syscall rather than os/exec: os probes pidfd support
// with a vfork of its own the first time, up to a millisecond on a VM, and
// nothing here needs an os.Process.
func (p *initProc) start() (int, error) {
	pid, _, err := syscall.StartProcess(p.path, []string{"xrt", "init"}, p.attr)
	return pid, err
}

// reapChild waits for a child that has exited or been killed.
func reapChild(pid int) {
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}
