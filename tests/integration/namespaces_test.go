package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setNamespace adds a namespace of typ, or sets the path of the one there.
func setNamespace(s *rspec.Spec, typ rspec.LinuxNamespaceType, path string) {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == typ {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: typ, Path: path})
}

var idMap = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}

func withUserNamespace(_ *testing.T, b *bundle) {
	setNamespace(b.spec, rspec.UserNamespace, "")
	b.spec.Linux.UIDMappings = idMap
	b.spec.Linux.GIDMappings = idMap
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	runInside(t, []insideCase{
		{
			name: "hostname",
			args: []string{"hostname"},
			edit: func(_ *testing.T, b *bundle) { b.spec.Hostname = "xrt-test-host" },
			want: "xrt-test-host",
		},
		{
			name: "user",
			args: []string{"sh", "-c", "id -u; id -g; id -G"},
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Process.User = rspec.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}}
			},
			want: "1000\n1000\n1000 10 20",
		},
		{
			name: "user namespace",
			args: []string{"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"},
			edit: withUserNamespace,
			check: func(t *testing.T, b *bundle, r result) {
				if got := strings.Join(strings.Fields(r.stdout), " "); got != "0 100000 65536 0 100000 65536 0" {
					t.Errorf("want uid and gid maps 0 100000 65536 and uid 0, got %s", r)
				}
			},
		},
		{
			name: "network namespace by path",
			args: []string{"readlink", "/proc/self/ns/net"},
			edit: withNamedNetns,
		},
		{
			name: "pid namespace by path",
			args: []string{"sh", "-c", "readlink /proc/self/ns/pid; [ $$ != 1 ] && echo not pid 1"},
			edit: withForeignPidns,
		},
		{
			name: "time namespace",
			args: []string{"sh", "-c", "cat /proc/uptime; cat /proc/self/timens_offsets"},
			edit: func(t *testing.T, b *bundle) {
				if _, err := os.Stat("/proc/self/timens_offsets"); err != nil {
					t.Skipf("the kernel has no time namespaces: %v", err)
				}
				setNamespace(b.spec, rspec.TimeNamespace, "")
				b.spec.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{
					"boottime":  {Secs: 1000000},
					"monotonic": {Secs: 2000000},
				}
			},
			check: func(t *testing.T, b *bundle, r result) {
				f := strings.Fields(r.stdout)
				if len(f) == 0 {
					t.Fatalf("no uptime: %s", r)
				}
				up, err := strconv.ParseFloat(f[0], 64)
				if err != nil || up < 1000000 {
					t.Errorf("want /proc/uptime >= 1000000 with a boottime offset of 1000000s, got %s", r)
				}
				for _, want := range []string{"boottime 1000000 0", "monotonic 2000000 0"} {
					if !strings.Contains(strings.Join(f, " "), want) {
						t.Errorf("want %q in timens_offsets, got %s", want, r)
					}
				}
			},
		},
	})
}

// withNamedNetns makes a network namespace with `ip netns add` and points
// the config at it.
func withNamedNetns(t *testing.T, b *bundle) {
	name := newID()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	path := "/run/netns/" + name
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	setNamespace(b.spec, rspec.NetworkNamespace, path)
	b.want = fmt.Sprintf("net:[%d]", st.Ino)
}

// withForeignPidns starts a process in a new pid namespace and points the
// config at that namespace.
func withForeignPidns(t *testing.T, b *bundle) {
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", "sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	path := fmt.Sprintf("/proc/%d/ns/pid_for_children", cmd.Process.Pid)
	children := fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)
	ours, _ := os.Readlink("/proc/self/ns/pid")
	var ns string
	// Join only once unshare has forked the namespace's pid 1.
	waitFor(t, "unshare to make a pid namespace", func() bool {
		ns, _ = os.Readlink(path)
		kids, _ := os.ReadFile(children)
		return ns != "" && ns != ours && len(strings.TrimSpace(string(kids))) > 0
	})
	setNamespace(b.spec, rspec.PIDNamespace, path)
	b.want = ns + "\nnot pid 1"
}

func TestUserNamespaceFromHost(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sleep", "60")
	withUserNamespace(t, b)
	st := b.mustCreate()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t100000\t100000\t100000\t100000\n") {
		t.Errorf("want init running as host uid 100000, /proc/%d/status says:\n%s", st.Pid, status)
	}
}
