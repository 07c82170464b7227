package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests here run sequentially (no t.Parallel): they compare the
// whole host's mounts and processes before and after.

// expectCleanFailure checks that a command failed with a one-line error
// that matches every pattern, and left the host as the snapshot found it.
func expectCleanFailure(t *testing.T, snap hostSnapshot, r result, patterns ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("want a failure, got %s", r)
	}
	msg := strings.TrimSpace(r.stderr)
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("want a one-line error on stderr, got %s", r)
	}
	for _, p := range patterns {
		if !regexp.MustCompile("(?i)" + p).MatchString(msg) {
			t.Errorf("want the error to match %q, got %s", p, r)
		}
	}
	snap.checkUnchanged(t)
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name  string
		id    *string // the id given to create, when not the bundle's
		edit  func(t *testing.T, b *bundle)
		match []string // regular expressions the error must match
	}{
		{
			name:  "missing config.json",
			edit:  func(t *testing.T, b *bundle) { remove(t, filepath.Join(b.dir, "config.json")) },
			match: []string{`config\.json`},
		},
		{
			name: "malformed config.json",
			edit: func(t *testing.T, b *bundle) {
				writeFile(t, filepath.Join(b.dir, "config.json"), "{\n\t\"ociVersion\": \"1.0.2\",\n\t\"process\": {,\n}\n")
			},
			match: []string{`config\.json`, `line\D{0,3}3\b.*col(umn)?\D{0,3}\d+|:3:\d+`},
		},
		{
			name: "unknown namespace type",
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Linux.Namespaces = append(b.spec.Linux.Namespaces, rspec.LinuxNamespace{Type: "bogus"})
				b.save()
			},
			match: []string{"namespace", "bogus"},
		},
		{
			name:  "absent rootfs",
			edit:  func(t *testing.T, b *bundle) { removeAll(t, b.rootfs("")) },
			match: []string{"rootfs"},
		},
		{name: "id with a slash", id: ptr("a/b"), match: []string{`\bid\b`}},
		{name: "id dot-dot", id: ptr(".."), match: []string{`\bid\b`}},
		{name: "empty id", id: ptr(""), match: []string{`\bid\b`}},
		{
			name: "missing program by path",
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Process.Args = []string{"/bin/no-such-program", "arg"}
				b.save()
			},
			match: []string{"/bin/no-such-program"},
		},
		{
			name: "missing program by name",
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Process.Args = []string{"no-such-program"}
				b.save()
			},
			match: []string{"no-such-program"},
		},
		{
			name: "no args",
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Process.Args = nil
				b.save()
			},
			match: []string{"args"},
		},
		{
			name: "unknown syscall name",
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{
					{Names: []string{"no_such_syscall"}, Action: rspec.ActErrno}}}
				b.save()
			},
			match: []string{`seccomp\.syscalls\[0\]\.names`, "no_such_syscall"},
		},
		{
			name: "unknown seccomp architecture",
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Architectures: []rspec.Arch{"SCMP_ARCH_VAX"}}
				b.save()
			},
			match: []string{`seccomp\.architectures\[0\]`, "SCMP_ARCH_VAX"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t, "true")
			b.save()
			if tc.edit != nil {
				tc.edit(t, b)
			}
			id := b.id
			if tc.id != nil {
				id = *tc.id
				b.cleanup(id)
			}
			mkdir(t, b.root)
			snap := snapshotHost(t, b.root, filepath.Dir(b.root))
			r := b.xrt("create", "--bundle", b.dir, id)
			expectCleanFailure(t, snap, r, tc.match...)
		})
	}
}

// TestPreserveClosedFds asks to pass fds the caller does not have open.
func TestPreserveClosedFds(t *testing.T) {
	b := newBundle(t, "true")
	b.save()
	mkdir(t, b.root)
	snap := snapshotHost(t, b.root)
	r := b.xrt("create", "--bundle", b.dir, "--preserve-fds", "40", b.id)
	expectCleanFailure(t, snap, r, "--preserve-fds 40", "not open")
}

func TestDuplicateID(t *testing.T) {
	b := newBundle(t, "sleep", "60")
	first := b.mustCreate()
	snap := snapshotHost(t, b.root)
	r := b.xrt("create", "--bundle", b.dir, b.id)
	expectCleanFailure(t, snap, r, "exist")
	if st := b.mustState(b.id); st.Status != "created" || st.Pid != first.Pid || !alive(st.Pid) {
		t.Errorf("the first container changed: was %+v, now %+v", first, st)
	}
}

// TestMountEscapeThroughSymlink mounts over a path whose parent is a
// symlink out of the rootfs. runc resolves the symlink inside the rootfs;
// failing is fine too. Mounting over the host's directory is not.
func TestMountEscapeThroughSymlink(t *testing.T) {
	outside, err := os.MkdirTemp("", "outside-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(filepath.Join(outside, "x"), unix.MNT_DETACH); err == nil {
			t.Errorf("a tmpfs was mounted on the host at %s", filepath.Join(outside, "x"))
		}
		os.RemoveAll(outside)
	})
	b := newBundle(t, "stat", "-f", "-c", "%T", "/evil/x")
	if err := os.Symlink(outside, b.rootfs("evil")); err != nil {
		t.Fatal(err)
	}
	b.spec.Mounts = append(b.spec.Mounts, rspec.Mount{Destination: "/evil/x", Type: "tmpfs", Source: "tmpfs"})
	b.save()
	mkdir(t, b.root)
	snap := snapshotHost(t, b.root, outside)
	r := b.xrt("run", "--bundle", b.dir, b.id)
	if r.code != 0 {
		expectCleanFailure(t, snap, r)
		return
	}
	if strings.TrimSpace(r.stdout) != "tmpfs" {
		t.Errorf("want the tmpfs at /evil/x inside the container, got %s", r)
	}
	if !exists(b.rootfs(filepath.Join(outside, "x"))) {
		t.Errorf("want the mount point made inside the rootfs at %s", b.rootfs(filepath.Join(outside, "x")))
	}
	snap.checkUnchanged(t)
}

func ptr[T any](v T) *T { return &v }

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
}
