package specs

import (
	"os"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestCapabilities(t *testing.T) {
	if len(Capabilities) != 41 {
		t.Fatalf("%d capabilities, want 41", len(Capabilities))
	}
	for i, n := range CapabilityNames() {
		if !strings.HasPrefix(n, "CAP_") {
			t.Errorf("capability %d named %q", i, n)
		}
		if Capabilities[n] != i {
			t.Errorf("Capabilities[%q] = %d, want %d", n, Capabilities[n], i)
		}
	}
	for name, want := range map[string]int{"CAP_CHOWN": 0, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_CHECKPOINT_RESTORE": 40} {
		if got, ok := Capabilities[name]; !ok || got != want {
			t.Errorf("Capabilities[%q] = %d, %v; want %d", name, got, ok, want)
		}
	}
}

func TestLastCap(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skipf("no cap_last_cap: %v", err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if got := LastCap(); got != want {
		t.Errorf("LastCap() = %d, want %d", got, want)
	}
}

func TestRlimits(t *testing.T) {
	if len(Rlimits) != 16 {
		t.Fatalf("%d rlimits, want 16", len(Rlimits))
	}
	seen := map[int]string{}
	for n, v := range Rlimits {
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s share resource %d", n, other, v)
		}
		seen[v] = n
	}
	if Rlimits["RLIMIT_NOFILE"] != unix.RLIMIT_NOFILE {
		t.Errorf("RLIMIT_NOFILE = %d", Rlimits["RLIMIT_NOFILE"])
	}
}

func TestNamespaceFlag(t *testing.T) {
	tests := []struct {
		t    rspec.LinuxNamespaceType
		want uintptr
	}{
		{rspec.CgroupNamespace, unix.CLONE_NEWCGROUP},
		{rspec.IPCNamespace, unix.CLONE_NEWIPC},
		{rspec.MountNamespace, unix.CLONE_NEWNS},
		{rspec.NetworkNamespace, unix.CLONE_NEWNET},
		{rspec.PIDNamespace, unix.CLONE_NEWPID},
		{rspec.TimeNamespace, unix.CLONE_NEWTIME},
		{rspec.UserNamespace, unix.CLONE_NEWUSER},
		{rspec.UTSNamespace, unix.CLONE_NEWUTS},
	}
	for _, tt := range tests {
		if got, ok := NamespaceFlag(tt.t); !ok || got != tt.want {
			t.Errorf("NamespaceFlag(%q) = %#x, %v; want %#x", tt.t, got, ok, tt.want)
		}
	}
	if len(tests) != len(namespaceTypes) {
		t.Errorf("namespaceTypes has %d entries, test has %d", len(namespaceTypes), len(tests))
	}
	if _, ok := NamespaceFlag("foo"); ok {
		t.Error(`NamespaceFlag("foo") ok`)
	}
}

func TestNamespace(t *testing.T) {
	s := Default()
	if ns, ok := Namespace(s, rspec.NetworkNamespace); !ok || ns.Type != rspec.NetworkNamespace {
		t.Errorf("Namespace(network) = %+v, %v", ns, ok)
	}
	if _, ok := Namespace(s, rspec.UserNamespace); ok {
		t.Error("Namespace(user) found in the default config")
	}
	if _, ok := Namespace(&rspec.Spec{}, rspec.PIDNamespace); ok {
		t.Error("Namespace found without a linux section")
	}
}
