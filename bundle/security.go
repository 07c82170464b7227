package bundle

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/specs"
)

// securityOpts is the parsed form of --security-opt.
type securityOpts struct {
	noNewPrivileges bool
	apparmor        string
	seccomp         string // "", "unconfined", a path or a JSON profile
}

// parseSecurityOpts reads --security-opt as Docker 20.10 does: "key=value"
// or the deprecated "key:value".
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var so securityOpts
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			so.noNewPrivileges = true
			continue
		}
		key, value, ok := strings.Cut(opt, "=")
		if !ok {
			key, value, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return so, fmt.Errorf("security-opt %q: want key=value", opt)
		}
		switch key {
		case "no-new-privileges":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return so, fmt.Errorf("security-opt %q: want true or false", opt)
			}
			so.noNewPrivileges = b
		case "apparmor":
			so.apparmor = value
		case "seccomp":
			so.seccomp = value
		case "label":
			// There is no SELinux labelling here, so "disable" is the only
			// value that asks for what we do.
			if value != "disable" {
				return so, fmt.Errorf("security-opt %q: only label=disable is supported", opt)
			}
		default:
			return so, fmt.Errorf("security-opt %q: unknown option %q", opt, key)
		}
	}
	return so, nil
}

func setSecurity(s *rspec.Spec, o *Options) error {
	so, err := parseSecurityOpts(o.SecurityOpt)
	if err != nil {
		return err
	}
	s.Process.NoNewPrivileges = so.noNewPrivileges
	s.Process.ApparmorProfile = so.apparmor
	s.Linux.Seccomp, err = seccompProfile(so.seccomp, o.Privileged, s.Process.Capabilities.Bounding)
	return err
}

// seccompProfile is the filter for the --security-opt seccomp value.
// Privileged containers get none, whatever the option says (Docker 20.10),
// and so does "unconfined"; the default is specs.DefaultSeccomp widened
// for the capabilities the container holds, as Docker's default profile is.
func seccompProfile(value string, privileged bool, caps []string) (*rspec.LinuxSeccomp, error) {
	switch {
	case privileged || value == "unconfined":
		return nil, nil
	case value == "":
		return defaultSeccomp(caps), nil
	}
	data := []byte(value)
	// The Docker CLI sends the profile's content; a path is read here.
	if !strings.HasPrefix(strings.TrimSpace(value), "{") {
		var err error
		if data, err = os.ReadFile(value); err != nil {
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
	}
	sc, err := DockerSeccomp(data, caps)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", seccompName(value), err)
	}
	return sc, nil
}

func seccompName(value string) string {
	if strings.HasPrefix(strings.TrimSpace(value), "{") {
		return "(inline JSON)"
	}
	return value
}

// capSyscalls are the syscalls Docker's default profile allows only with a
// capability in the bounding set.
var capSyscalls = map[string][]string{
	"CAP_DAC_READ_SEARCH": {"open_by_handle_at"},
	"CAP_SYS_ADMIN": {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
		"fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
		"perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
		"syslog", "umount", "umount2", "unshare"},
	"CAP_SYS_BOOT":       {"reboot"},
	"CAP_SYS_CHROOT":     {"chroot"},
	"CAP_SYS_MODULE":     {"delete_module", "init_module", "finit_module"},
	"CAP_SYS_PACCT":      {"acct"},
	"CAP_SYS_PTRACE":     {"kcmp", "pidfd_getfd", "process_madvise"},
	"CAP_SYS_RAWIO":      {"iopl", "ioperm"},
	"CAP_SYS_TIME":       {"settimeofday", "stime", "clock_settime", "clock_settime64"},
	"CAP_SYS_TTY_CONFIG": {"vhangup"},
	"CAP_SYS_NICE":       {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"},
	"CAP_SYSLOG":         {"syslog"},
	"CAP_BPF":            {"bpf"},
	"CAP_PERFMON":        {"perf_event_open"},
}

// dockerAllowed are syscalls Docker's default profile allows that
// specs.DefaultSeccomp lacks: without pipe a shell cannot run a pipeline.
// They are added only when missing, so a fixed specs makes this a no-op.
var dockerAllowed = []string{"pipe", "pipe2"}

// defaultSeccomp is specs.DefaultSeccomp plus, as in Docker's profile, the
// syscalls of the capabilities in caps. With CAP_SYS_ADMIN clone and
// clone3 lose their restrictions (namespaces may be created).
func defaultSeccomp(caps []string) *rspec.LinuxSeccomp {
	sc := specs.DefaultSeccomp()
	var extra []string
	for _, name := range dockerAllowed {
		if !allowsUnconditionally(sc, name) {
			extra = append(extra, name)
		}
	}
	for _, c := range caps {
		for _, name := range capSyscalls[c] {
			if !containsString(extra, name) {
				extra = append(extra, name)
			}
		}
	}
	if len(extra) == 0 {
		return sc
	}
	if containsString(extra, "clone") {
		rules := sc.Syscalls[:0]
		for _, r := range sc.Syscalls {
			if len(r.Names) == 1 && (r.Names[0] == "clone" || r.Names[0] == "clone3") {
				continue
			}
			rules = append(rules, r)
		}
		sc.Syscalls = rules
	}
	sc.Syscalls = append(sc.Syscalls, rspec.LinuxSyscall{Names: extra, Action: rspec.ActAllow})
	return sc
}

func allowsUnconditionally(sc *rspec.LinuxSeccomp, name string) bool {
	for _, r := range sc.Syscalls {
		if r.Action == rspec.ActAllow && len(r.Args) == 0 && containsString(r.Names, name) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
