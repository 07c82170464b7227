package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/specs"
)

func TestCapabilities(t *testing.T) {
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(DefaultCapabilities), func(c string) bool { return slices.Contains(drop, c) })
	}
	all := allCapabilities()
	cases := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
		wantErr    string
	}{
		{name: "default", want: DefaultCapabilities},
		{name: "add without prefix, lower case", add: []string{"sys_admin"}, want: append(slices.Clone(DefaultCapabilities), "CAP_SYS_ADMIN")},
		{name: "add existing is not doubled", add: []string{"CAP_CHOWN"}, want: DefaultCapabilities},
		{name: "drop", drop: []string{"net_raw", "CAP_MKNOD"}, want: without("CAP_NET_RAW", "CAP_MKNOD")},
		{name: "drop ALL, add some", drop: []string{"ALL"}, add: []string{"chown", "kill"}, want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{name: "drop all lower case", drop: []string{"all"}, want: nil},
		{name: "add ALL, drop some", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"},
			want: slices.DeleteFunc(slices.Clone(all), func(c string) bool { return c == "CAP_SYS_ADMIN" })},
		{name: "privileged", privileged: true, drop: []string{"chown"}, want: all},
		{name: "unknown add", add: []string{"FLY"}, wantErr: `cap-add: unknown capability: "FLY"`},
		{name: "unknown drop", drop: []string{"CAP_NOPE"}, wantErr: `cap-drop: unknown capability: "CAP_NOPE"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := baseOptions(t)
			o.CapAdd, o.CapDrop, o.Privileged = c.add, c.drop, c.privileged
			s, err := Generate(o)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			caps := s.Process.Capabilities
			if !slices.Equal(caps.Bounding, c.want) || !slices.Equal(caps.Effective, c.want) || !slices.Equal(caps.Permitted, c.want) {
				t.Errorf("caps = %+v\nwant %q", caps, c.want)
			}
			if len(caps.Inheritable) != 0 || len(caps.Ambient) != 0 {
				t.Errorf("inheritable/ambient = %q %q, want none", caps.Inheritable, caps.Ambient)
			}
		})
	}
}

func TestParseUlimit(t *testing.T) {
	cases := []struct {
		in      string
		want    Ulimit
		wantErr string
	}{
		{in: "nofile=1024:2048", want: Ulimit{"nofile", 1024, 2048}},
		{in: "nproc=512", want: Ulimit{"nproc", 512, 512}},
		{in: "core=-1", want: Ulimit{"core", -1, -1}},
		{in: "memlock=1024:-1", want: Ulimit{"memlock", 1024, -1}},
		{in: "nofile", wantErr: "want name=soft[:hard]"},
		{in: "files=1", wantErr: `invalid ulimit type "files"`},
		{in: "nofile=2048:1024", wantErr: "above the hard limit"},
		{in: "nofile=1:2:3", wantErr: "too many values"},
		{in: "nofile=x", wantErr: "not a number"},
		{in: "nofile=1:y", wantErr: "not a number"},
	}
	for _, c := range cases {
		got, err := ParseUlimit(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: err = %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestRlimits(t *testing.T) {
	o := baseOptions(t)
	o.Ulimits = []Ulimit{{"nofile", 10, 20}, {"core", -1, -1}, {"nofile", 30, 40}}
	s := mustGenerate(t, o)
	want := []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 30, Hard: 40}, {Type: "RLIMIT_CORE", Soft: ^uint64(0), Hard: ^uint64(0)}}
	if !reflect.DeepEqual(s.Process.Rlimits, want) {
		t.Errorf("rlimits = %+v", s.Process.Rlimits)
	}
	o.Ulimits = []Ulimit{{"bogus", 1, 1}}
	if _, err := Generate(o); err == nil {
		t.Error("an unknown ulimit was accepted")
	}
	// No ulimits: none in the spec (the runtime's own apply).
	if s := mustGenerate(t, baseOptions(t)); s.Process.Rlimits != nil {
		t.Errorf("default rlimits = %+v", s.Process.Rlimits)
	}
}

func i64(v int64) *int64 { return &v }

func TestMemory(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		limit, reservation, swap int64
		want                     *rspec.LinuxMemory
		wantErr                  string
	}{
		{want: nil},
		{limit: 64 * mb, want: &rspec.LinuxMemory{Limit: i64(64 * mb), Swap: i64(128 * mb)}},
		{limit: 64 * mb, swap: -1, want: &rspec.LinuxMemory{Limit: i64(64 * mb), Swap: i64(-1)}},
		{limit: 64 * mb, swap: 100 * mb, want: &rspec.LinuxMemory{Limit: i64(64 * mb), Swap: i64(100 * mb)}},
		{limit: 64 * mb, reservation: 32 * mb, want: &rspec.LinuxMemory{Limit: i64(64 * mb), Reservation: i64(32 * mb), Swap: i64(128 * mb)}},
		{reservation: 32 * mb, want: &rspec.LinuxMemory{Reservation: i64(32 * mb)}},
		{limit: 1 * mb, wantErr: "minimum memory limit allowed is 6MB"},
		{reservation: 1 * mb, wantErr: "minimum memory reservation"},
		{swap: 100 * mb, wantErr: "memory limit must be set"},
		{limit: 64 * mb, swap: 32 * mb, wantErr: "larger than the memory limit"},
		{limit: 32 * mb, reservation: 64 * mb, wantErr: "less than the memory reservation"},
		{limit: -5, wantErr: "negative"},
	}
	for _, c := range cases {
		o := baseOptions(t)
		o.Memory, o.MemoryReservation, o.MemorySwap = c.limit, c.reservation, c.swap
		s, err := Generate(o)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: err = %v, want %q", c, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.Linux.Resources.Memory, c.want) {
			t.Errorf("memory %d/%d/%d = %s, want %s", c.limit, c.reservation, c.swap,
				fmtMem(s.Linux.Resources.Memory), fmtMem(c.want))
		}
	}
}

func fmtMem(m *rspec.LinuxMemory) string {
	if m == nil {
		return "nil"
	}
	v := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	return fmt.Sprintf("limit %s reservation %s swap %s", v(m.Limit), v(m.Reservation), v(m.Swap))
}

func TestCPU(t *testing.T) {
	o := baseOptions(t)
	o.NanoCPUs = 1.5e9
	if runtime.NumCPU() < 2 {
		o.NanoCPUs = 0.5e9
	}
	o.CPUShares = 512
	o.CpusetCpus, o.CpusetMems = "0", "0"
	s := mustGenerate(t, o)
	c := s.Linux.Resources.CPU
	wantQuota := o.NanoCPUs * 100000 / 1e9
	if c == nil || *c.Period != 100000 || *c.Quota != wantQuota || *c.Shares != 512 || c.Cpus != "0" || c.Mems != "0" {
		t.Fatalf("cpu = %+v", c)
	}

	// --cpu-period and --cpu-quota as given.
	o = baseOptions(t)
	o.CPUPeriod, o.CPUQuota = 50000, 25000
	if c := mustGenerate(t, o).Linux.Resources.CPU; c == nil || c.Period == nil || *c.Period != 50000 || c.Quota == nil || *c.Quota != 25000 {
		t.Fatalf("period/quota cpu = %+v", c)
	}

	// Shares are clamped as Docker does.
	for in, want := range map[int64]uint64{1: 2, -3: 2, 1 << 20: 262144} {
		o := baseOptions(t)
		o.CPUShares = in
		if got := *mustGenerate(t, o).Linux.Resources.CPU.Shares; got != want {
			t.Errorf("shares %d -> %d, want %d", in, got, want)
		}
	}
	for _, bad := range []Options{{NanoCPUs: 1e6}, {NanoCPUs: 1e12}, {CpusetCpus: "0-"}, {CpusetMems: "a"}, {CpusetCpus: "3-1"}} {
		o := baseOptions(t)
		o.NanoCPUs, o.CpusetCpus, o.CpusetMems = bad.NanoCPUs, bad.CpusetCpus, bad.CpusetMems
		if _, err := Generate(o); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
	if s := mustGenerate(t, baseOptions(t)); s.Linux.Resources.CPU != nil {
		t.Errorf("default cpu = %+v", s.Linux.Resources.CPU)
	}
}

func TestPids(t *testing.T) {
	for in, want := range map[int64]int64{100: 100, 0: -1, -5: -1} {
		o := baseOptions(t)
		o.PidsLimit = i64(in)
		if got := *mustGenerate(t, o).Linux.Resources.Pids.Limit; got != want {
			t.Errorf("pids %d -> %d, want %d", in, got, want)
		}
	}
	if p := mustGenerate(t, baseOptions(t)).Linux.Resources.Pids; p != nil {
		t.Errorf("default pids = %+v", p)
	}
}

func TestSysctls(t *testing.T) {
	cases := []struct {
		sysctls map[string]string
		host    bool
		wantErr string
	}{
		{sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "5", "kernel.sem": "1 2 3 4"}},
		{sysctls: map[string]string{"kernel.msgmax": "1", "kernel.shm_rmid_forced": "1"}, host: true},
		{sysctls: map[string]string{"net.core.somaxconn": "1"}, host: true, wantErr: "not allowed with host networking"},
		{sysctls: map[string]string{"kernel.pid_max": "1"}, wantErr: `sysctl "kernel.pid_max" is not allowed`},
		{sysctls: map[string]string{"vm.swappiness": "1"}, wantErr: "not namespaced"},
		{sysctls: map[string]string{"kernel.shmfoo": "1"}, wantErr: "not allowed"},
	}
	for _, c := range cases {
		o := baseOptions(t)
		o.Sysctls, o.HostNetwork = c.sysctls, c.host
		s, err := Generate(o)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: err = %v, want %q", c.sysctls, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", c.sysctls, err)
		}
		if !reflect.DeepEqual(s.Linux.Sysctl, c.sysctls) {
			t.Errorf("sysctl = %v", s.Linux.Sysctl)
		}
	}
}

func TestNamespaces(t *testing.T) {
	types := func(s *rspec.Spec) (out []string) {
		for _, ns := range s.Linux.Namespaces {
			out = append(out, string(ns.Type)+"="+ns.Path)
		}
		return out
	}
	o := baseOptions(t)
	s := mustGenerate(t, o)
	if got := types(s); !slices.Equal(got, []string{"mount=", "network=", "uts=", "pid=", "ipc="}) {
		t.Errorf("namespaces = %q", got)
	}
	if s.Hostname != "0123456789ab" {
		t.Errorf("hostname = %q", s.Hostname)
	}

	o.HostNetwork, o.Hostname, o.Domainname = true, "", "example.com"
	s = mustGenerate(t, o)
	if got := types(s); !slices.Equal(got, []string{"mount=", "uts=", "pid=", "ipc="}) {
		t.Errorf("host network: namespaces = %q", got)
	}
	if s.Hostname != "" || s.Domainname != "" {
		t.Errorf("host network: hostname %q domainname %q, want none", s.Hostname, s.Domainname)
	}
	host, _ := os.Hostname()
	if v, _ := lookupEnv(s.Process.Env, "HOSTNAME"); v != host {
		t.Errorf("host network: HOSTNAME=%q, want the host's %q", v, host)
	}

	o = baseOptions(t)
	o.NetNSPath = "/proc/self/ns/net" // a real netns file passes specs.Validate
	o.Hostname, o.Domainname = "web", "example.com"
	s = mustGenerate(t, o)
	if got := types(s); got[1] != "network=/proc/self/ns/net" {
		t.Errorf("netns path: namespaces = %q", got)
	}
	if s.Hostname != "web" || s.Domainname != "example.com" {
		t.Errorf("hostname %q domainname %q", s.Hostname, s.Domainname)
	}
	o.NetNSPath = "/proc/self/ns/uts"
	if _, err := Generate(o); err == nil {
		t.Error("a uts namespace file was accepted as the network namespace")
	}
	o.NetNSPath, o.HostNetwork = "/proc/self/ns/net", true
	if _, err := Generate(o); err == nil {
		t.Error("host networking and a netns path were both accepted")
	}
}

func TestMaskedPathsAndDevices(t *testing.T) {
	s := mustGenerate(t, baseOptions(t))
	wantMasked := []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap"}
	if !slices.Equal(s.Linux.MaskedPaths, wantMasked) {
		t.Errorf("masked = %q", s.Linux.MaskedPaths)
	}
	if !slices.Equal(s.Linux.ReadonlyPaths, []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
		t.Errorf("readonly = %q", s.Linux.ReadonlyPaths)
	}
	d := s.Linux.Resources.Devices
	if len(d) == 0 || d[0].Allow || d[0].Access != "rwm" {
		t.Fatalf("devices must start with deny all: %+v", d)
	}
	allowed := map[string]bool{}
	for _, r := range d[1:] {
		key := r.Type + " " + num(r.Major) + ":" + num(r.Minor) + " " + r.Access
		allowed[key] = r.Allow
	}
	for _, want := range []string{"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
		"c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"} {
		if !allowed[want] {
			t.Errorf("device rule %q missing from %v", want, allowed)
		}
	}
	if len(s.Linux.Devices) != 0 {
		t.Errorf("devices = %+v, want none", s.Linux.Devices)
	}
	if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != 0 {
		t.Errorf("oomScoreAdj = %v", s.Process.OOMScoreAdj)
	}
}

func num(p *int64) string {
	if p == nil {
		return "*"
	}
	return strconv.FormatInt(*p, 10)
}

func TestPrivileged(t *testing.T) {
	o := baseOptions(t)
	o.Privileged = true
	s := mustGenerate(t, o)
	if s.Linux.Seccomp != nil || s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Errorf("privileged: seccomp %v masked %q readonly %q, want none", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, allCapabilities()) {
		t.Errorf("privileged caps = %q", s.Process.Capabilities.Bounding)
	}
	if d := s.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" || d[0].Type != "" {
		t.Errorf("privileged device cgroup = %+v, want allow all", d)
	}
	found := map[string]rspec.LinuxDevice{}
	for _, d := range s.Linux.Devices {
		found[d.Path] = d
	}
	if n, ok := found["/dev/null"]; !ok || n.Type != "c" || n.Major != 1 || n.Minor != 3 {
		t.Errorf("privileged: /dev/null = %+v (found %d devices)", n, len(found))
	}
	if _, ok := found["/dev/console"]; ok {
		t.Error("privileged: /dev/console is listed")
	}
	for p := range found {
		if strings.HasPrefix(p, "/dev/pts/") {
			t.Errorf("privileged: %s is listed", p)
		}
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
			t.Errorf("privileged: %s is read-only: %q", m.Destination, m.Options)
		}
	}
	// Docker 20.10 ignores a profile for a privileged container.
	o.SecurityOpt = []string{"seccomp=" + `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}`}
	if s := mustGenerate(t, o); s.Linux.Seccomp != nil {
		t.Error("privileged with an explicit profile: a filter was set")
	}
}

func TestSecurityOpt(t *testing.T) {
	cases := []struct {
		opts    []string
		nnp     bool
		aa      string
		wantErr string
	}{
		{opts: nil},
		{opts: []string{"no-new-privileges"}, nnp: true},
		{opts: []string{"no-new-privileges:true"}, nnp: true},
		{opts: []string{"no-new-privileges=false"}, nnp: false},
		{opts: []string{"apparmor=my-profile", "label=disable"}, aa: "my-profile"},
		{opts: []string{"apparmor:unconfined"}, aa: "unconfined"},
		{opts: []string{"no-new-privileges=maybe"}, wantErr: "want true or false"},
		{opts: []string{"label=type:foo_t"}, wantErr: "only label=disable"},
		{opts: []string{"foo=bar"}, wantErr: `unknown option "foo"`},
		{opts: []string{"bogus"}, wantErr: "want key=value"},
		{opts: []string{"seccomp=/no/such/profile.json"}, wantErr: "no such file"},
	}
	for _, c := range cases {
		o := baseOptions(t)
		o.SecurityOpt = c.opts
		s, err := Generate(o)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: err = %v, want %q", c.opts, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.opts, err)
		}
		if s.Process.NoNewPrivileges != c.nnp || s.Process.ApparmorProfile != c.aa {
			t.Errorf("%q: nnp %v apparmor %q", c.opts, s.Process.NoNewPrivileges, s.Process.ApparmorProfile)
		}
	}
}

func TestSeccomp(t *testing.T) {
	o := baseOptions(t)
	s := mustGenerate(t, o)
	if !reflect.DeepEqual(s.Linux.Seccomp, defaultSeccomp(DefaultCapabilities)) {
		t.Error("default: not the default profile")
	}
	// The default caps include SYS_CHROOT, which allows chroot.
	if !allows(s.Linux.Seccomp, "chroot") || allows(s.Linux.Seccomp, "mount") {
		t.Error("default: chroot should be allowed and mount not")
	}
	for _, name := range []string{"pipe", "pipe2", "read", "execve"} {
		if !allows(s.Linux.Seccomp, name) {
			t.Errorf("default: %s is not allowed", name)
		}
	}

	o.CapAdd = []string{"SYS_ADMIN"}
	s = mustGenerate(t, o)
	if !allows(s.Linux.Seccomp, "mount") || !allows(s.Linux.Seccomp, "unshare") {
		t.Error("SYS_ADMIN: mount and unshare should be allowed")
	}
	for _, r := range s.Linux.Seccomp.Syscalls {
		if slices.Contains(r.Names, "clone") && len(r.Args) > 0 {
			t.Errorf("SYS_ADMIN: clone keeps its flag filter: %+v", r)
		}
		if slices.Contains(r.Names, "clone3") && r.Action != rspec.ActAllow {
			t.Errorf("SYS_ADMIN: clone3 rule %+v", r)
		}
	}

	o = baseOptions(t)
	o.SecurityOpt = []string{"seccomp=unconfined"}
	if s := mustGenerate(t, o); s.Linux.Seccomp != nil {
		t.Error("unconfined: a filter was set")
	}

	profile := filepath.Join(t.TempDir(), "profile.json")
	data := `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": [
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
		],
		"syscalls": [
			{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": []},
			{"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
			{"names": ["old"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
			{"names": ["new"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "3.0"}},
			{"names": ["notmine"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
			{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_CHOWN"]}},
			{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
			 "args": [{"index": 1, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
		]
	}`
	if err := os.WriteFile(profile, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	o = baseOptions(t)
	o.SecurityOpt = []string{"seccomp=" + profile}
	sc := mustGenerate(t, o).Linux.Seccomp
	if sc.DefaultAction != rspec.ActErrno || sc.DefaultErrnoRet == nil || *sc.DefaultErrnoRet != 1 {
		t.Errorf("profile: default %v", sc.DefaultAction)
	}
	var names []string
	for _, r := range sc.Syscalls {
		names = append(names, strings.Join(r.Names, ","))
	}
	if !slices.Equal(names, []string{"read,write", "chroot", "new", "kill"}) {
		t.Errorf("profile: rules %q", names)
	}
	if k := sc.Syscalls[len(sc.Syscalls)-1]; *k.ErrnoRet != 13 || k.Args[0].Index != 1 || k.Args[0].Value != 9 || k.Args[0].Op != rspec.OpEqualTo {
		t.Errorf("profile: kill rule %+v", k)
	}
	if goArchToSeccomp["amd64"] == rspec.ArchX86_64 && len(sc.Architectures) == 3 && sc.Architectures[0] != rspec.ArchX86_64 {
		t.Errorf("profile: architectures %q", sc.Architectures)
	}
	if len(sc.Architectures) != 3 && len(sc.Architectures) != 2 {
		t.Errorf("profile: architectures %q, want the host's group", sc.Architectures)
	}
	// The same, inline as the Docker CLI sends it.
	o.SecurityOpt = []string{"seccomp=" + data}
	if inline := mustGenerate(t, o).Linux.Seccomp; !reflect.DeepEqual(inline, sc) {
		t.Error("inline profile differs from the file")
	}

	for _, bad := range []string{
		`{"syscalls": []}`,
		`{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`,
		`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "x"}}]}`,
		`{not json`,
	} {
		o.SecurityOpt = []string{"seccomp=" + bad}
		if _, err := Generate(o); err == nil {
			t.Errorf("profile %s was accepted", bad)
		}
	}
}

func allows(sc *rspec.LinuxSeccomp, name string) bool {
	for _, r := range sc.Syscalls {
		if r.Action == rspec.ActAllow && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

func TestInitAndLabels(t *testing.T) {
	o := baseOptions(t)
	o.Init = true
	o.InitPath = filepath.Join(t.TempDir(), "xmgr-init")
	if _, err := Generate(o); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing init binary: err = %v", err)
	}
	os.WriteFile(o.InitPath, []byte("#!"), 0o755)
	o.Image.Entrypoint, o.Image.Cmd = []string{"/ep"}, []string{"a"}
	o.Labels = map[string]string{"com.example.a": "1"}
	s := mustGenerate(t, o)
	if want := []string{"/dev/init", "--", "/ep", "a"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args = %q, want %q", s.Process.Args, want)
	}
	last := s.Mounts[len(s.Mounts)-1]
	if last.Destination != "/dev/init" || last.Source != o.InitPath || last.Type != "bind" || !slices.Contains(last.Options, "ro") {
		t.Errorf("init mount = %+v", last)
	}
	if !reflect.DeepEqual(s.Annotations, o.Labels) {
		t.Errorf("annotations = %v", s.Annotations)
	}
	o.InitPath = ""
	if _, err := Generate(o); err == nil {
		t.Error("init without a binary was accepted")
	}
}

func TestStopSignal(t *testing.T) {
	o := Options{}
	if s, err := StopSignal(o); err != nil || s != 15 {
		t.Errorf("default: %v %v", s, err)
	}
	o.Image.StopSignal = "SIGQUIT"
	if s, _ := StopSignal(o); s != 3 {
		t.Errorf("image: %v", s)
	}
	for in, want := range map[string]int{"usr1": 10, "SIGKILL": 9, "2": 2} {
		o.StopSignal = in
		if s, err := StopSignal(o); err != nil || int(s) != want {
			t.Errorf("%q: %v %v", in, s, err)
		}
	}
	for _, bad := range []string{"SIGNOPE", "0", "99"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestGenerateRootfs(t *testing.T) {
	o := baseOptions(t)
	o.Rootfs = ""
	if _, err := Generate(o); err == nil {
		t.Error("no rootfs was accepted")
	}
	o.Rootfs = filepath.Join(t.TempDir(), "nope")
	if _, err := Generate(o); err == nil {
		t.Error("a missing rootfs was accepted")
	}
	o = baseOptions(t)
	o.ReadOnlyRootfs = true
	o.CgroupsPath = "/xmgr/abc"
	s := mustGenerate(t, o)
	if s.Root.Path != o.Rootfs || !s.Root.Readonly || s.Linux.CgroupsPath != "/xmgr/abc" {
		t.Errorf("root %+v cgroups %q", s.Root, s.Linux.CgroupsPath)
	}
	if err := specs.Validate(s, ""); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
