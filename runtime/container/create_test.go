package container

import (
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// initSpec drops what init does not use and must leave the caller's spec whole.
func TestInitSpec(t *testing.T) {
	limit := int64(1 << 20)
	tests := []struct {
		name         string
		seccomp      *rspec.LinuxSeccomp
		wantListener string
		wantSeccomp  bool
	}{
		{name: "no seccomp"},
		{name: "profile without agent", seccomp: &rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno,
			Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"}, Action: rspec.ActAllow}}}},
		{name: "profile with agent", seccomp: &rspec.LinuxSeccomp{DefaultAction: rspec.ActNotify,
			ListenerPath: "/run/agent.sock", ListenerMetadata: "meta"},
			wantListener: "/run/agent.sock", wantSeccomp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &rspec.Spec{Hostname: "h", Linux: &rspec.Linux{
				Resources:     &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: &limit}},
				Seccomp:       tt.seccomp,
				MaskedPaths:   []string{"/proc/kcore"},
				ReadonlyPaths: []string{"/proc/sys"},
			}}
			got := initSpec(spec)
			if got.Linux.Resources != nil {
				t.Error("linux.resources reached init")
			}
			if got.Hostname != "h" || len(got.Linux.MaskedPaths) != 1 || len(got.Linux.ReadonlyPaths) != 1 {
				t.Errorf("fields init uses were dropped: %+v", got.Linux)
			}
			if (got.Linux.Seccomp != nil) != tt.wantSeccomp {
				t.Fatalf("linux.seccomp = %+v, want present: %v", got.Linux.Seccomp, tt.wantSeccomp)
			}
			if sc := got.Linux.Seccomp; sc != nil {
				if sc.ListenerPath != tt.wantListener || sc.ListenerMetadata != "meta" || len(sc.Syscalls) != 0 {
					t.Errorf("linux.seccomp = %+v, want only the listener", sc)
				}
			}
			if spec.Linux.Resources == nil || spec.Linux.Seccomp != tt.seccomp {
				t.Error("the caller's spec was changed")
			}
		})
	}
}
