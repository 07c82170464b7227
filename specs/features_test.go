package specs

import (
	"encoding/json"
	"slices"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func TestFeatures(t *testing.T) {
	f := Features("1.2.3")
	// Round trip through JSON, as `xrt features` prints it.
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var g features.Features
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if g.OCIVersionMin != "1.0.0" || g.OCIVersionMax != rspec.Version {
		t.Errorf("versions %q..%q", g.OCIVersionMin, g.OCIVersionMax)
	}
	if g.Annotations[VersionAnnotation] != "1.2.3" {
		t.Errorf("annotations %v", g.Annotations)
	}
	if !slices.Equal(g.Hooks, []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}) {
		t.Errorf("hooks %v", g.Hooks)
	}
	if !slices.Equal(g.MountOptions, MountOptionNames()) {
		t.Errorf("mount options %v", g.MountOptions)
	}
	l := g.Linux
	if len(l.Namespaces) != 8 || !slices.Contains(l.Namespaces, "time") || !slices.IsSorted(l.Namespaces) {
		t.Errorf("namespaces %v", l.Namespaces)
	}
	if len(l.Capabilities) != len(Capabilities) || l.Capabilities[40] != "CAP_CHECKPOINT_RESTORE" {
		t.Errorf("capabilities %v", l.Capabilities)
	}
	cg := l.Cgroup
	if !*cg.V1 || !*cg.V2 || !*cg.Systemd || *cg.SystemdUser || !*cg.Rdma {
		t.Errorf("cgroup %+v", cg)
	}
	sc := l.Seccomp
	if !*sc.Enabled || len(sc.Actions) != 9 || len(sc.Operators) != 7 ||
		!slices.Contains(sc.Archs, "SCMP_ARCH_X86_64") || !slices.Contains(sc.Archs, "SCMP_ARCH_RISCV64") ||
		!slices.Contains(sc.KnownFlags, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") || !slices.Equal(sc.KnownFlags, sc.SupportedFlags) {
		t.Errorf("seccomp %+v", sc)
	}
	if !*l.Apparmor.Enabled || !*l.Selinux.Enabled || *l.IntelRdt.Enabled || *l.MountExtensions.IDMap.Enabled {
		t.Errorf("apparmor %v selinux %v intelRdt %v idmap %v", *l.Apparmor.Enabled, *l.Selinux.Enabled, *l.IntelRdt.Enabled, *l.MountExtensions.IDMap.Enabled)
	}
	// Callers may change the lists without changing the tables.
	f.Linux.Seccomp.Actions[0] = "X"
	f.Hooks[0] = "X"
	if seccompActions[0] == "X" || hookNames[0] == "X" {
		t.Error("Features shares its lists with the tables")
	}
}
