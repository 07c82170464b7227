package specs

import (
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// VersionAnnotation is the features annotation that holds xrt's version.
const VersionAnnotation = "dev.xrt.version"

// Features returns the document `xrt features` prints: what this runtime
// recognizes, whatever the host supports. version is xrt's own version.
func Features(version string) *features.Features {
	yes, no := true, false
	namespaces := make([]string, len(namespaceTypes))
	for i, t := range namespaceTypes {
		namespaces[i] = string(t)
	}
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: rspec.Version,
		Hooks:         append([]string(nil), hookNames...),
		MountOptions:  MountOptionNames(),
		Linux: &features.Linux{
			Namespaces:   namespaces,
			Capabilities: CapabilityNames(),
			Cgroup: &features.Cgroup{
				V1:          &yes,
				V2:          &yes,
				Systemd:     &yes, // --systemd-cgroup (needs systemd as PID 1 at run time)
				SystemdUser: &no,
				Rdma:        &yes,
			},
			Seccomp: &features.Seccomp{
				Enabled:        &yes,
				Actions:        append([]string(nil), seccompActions...),
				Operators:      append([]string(nil), seccompOperators...),
				Archs:          append([]string(nil), seccompArchs...),
				KnownFlags:     append([]string(nil), seccompFlags...),
				SupportedFlags: append([]string(nil), seccompFlags...),
			},
			Apparmor: &features.Apparmor{Enabled: &yes},
			Selinux:  &features.Selinux{Enabled: &yes},
			IntelRdt: &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &no}, // idmapped mounts are refused
			},
		},
		Annotations: map[string]string{VersionAnnotation: version},
	}
}
