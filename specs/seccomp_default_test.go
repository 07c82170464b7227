package specs

import (
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDefaultSeccomp(t *testing.T) {
	s := DefaultSeccomp()
	if err := checkSeccomp(nil, &rspec.Linux{Seccomp: s}); err != nil {
		t.Fatalf("the default profile does not validate: %v", err)
	}
	if s.DefaultAction != rspec.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
		t.Errorf("want EPERM by default, got %s %v", s.DefaultAction, s.DefaultErrnoRet)
	}
	seen := map[string]bool{}
	for _, n := range s.Syscalls[0].Names {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
	}
	if len(seen) < 300 {
		t.Errorf("want an allow list of about 350 syscalls, got %d", len(seen))
	}
	// What a container must be able to do, and what it must not.
	for _, n := range []string{"read", "execve", "openat", "mkdirat", "socket", "futex", "exit_group", "wait4"} {
		if !seen[n] {
			t.Errorf("%s is not allowed", n)
		}
	}
	for _, n := range []string{"mount", "umount2", "pivot_root", "unshare", "setns", "reboot", "kexec_load",
		"init_module", "bpf", "swapon", "clone", "clone3", "personality", "keyctl", "add_key"} {
		if seen[n] {
			t.Errorf("%s must not be allowed unconditionally", n)
		}
	}
	// A second call returns a profile of its own.
	s.Syscalls[0].Names[0] = "mount"
	if DefaultSeccomp().Syscalls[0].Names[0] == "mount" {
		t.Error("DefaultSeccomp shares its allow list between calls")
	}
}

func TestNativeArchs(t *testing.T) {
	for goarch, want := range map[string]int{"amd64": 3, "arm64": 2, "386": 1, "mips": 0} {
		if got := len(nativeArchs(goarch)); got != want {
			t.Errorf("%s: %d architectures, want %d", goarch, got, want)
		}
	}
}
