package integration

import (
	"os"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestProcess(t *testing.T) {
	t.Parallel()
	runInside(t, []insideCase{
		{
			name: "env",
			args: []string{"sh", "-c", `echo "$FOO|$PATH|$EMPTY|"`},
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Process.Env = []string{"PATH=/bin", "FOO=bar baz=qux", "EMPTY="}
			},
			want: "bar baz=qux|/bin||",
		},
		{
			name: "cwd",
			args: []string{"pwd"},
			edit: func(t *testing.T, b *bundle) {
				if err := os.MkdirAll(b.rootfs("srv/app"), 0o755); err != nil {
					t.Fatal(err)
				}
				b.spec.Process.Cwd = "/srv/app"
			},
			want: "/srv/app",
		},
		{
			name: "cwd created when missing",
			args: []string{"pwd"},
			edit: func(_ *testing.T, b *bundle) { b.spec.Process.Cwd = "/not/yet/there" },
			want: "/not/yet/there",
		},
		{
			name: "rlimits",
			args: []string{"sh", "-c", "ulimit -Sn; ulimit -Hn"},
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Process.Rlimits = []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 256, Hard: 512}}
			},
			want: "256\n512",
		},
		{
			name: "capabilities",
			args: []string{"grep", "^Cap", "/proc/self/status"},
			edit: func(_ *testing.T, b *bundle) {
				set := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
				b.spec.Process.Capabilities = &rspec.LinuxCapabilities{Bounding: set, Effective: set, Permitted: set}
			},
			// CHOWN is bit 0, KILL bit 5, NET_BIND_SERVICE bit 10.
			want: "CapInh:\t0000000000000000\nCapPrm:\t0000000000000421\nCapEff:\t0000000000000421\n" +
				"CapBnd:\t0000000000000421\nCapAmb:\t0000000000000000",
		},
		{
			name: "capabilities of a non-root user",
			args: []string{"grep", "^Cap", "/proc/self/status"},
			edit: func(_ *testing.T, b *bundle) {
				set := []string{"CAP_KILL"}
				b.spec.Process.User = rspec.User{UID: 1000, GID: 1000}
				b.spec.Process.Capabilities = &rspec.LinuxCapabilities{
					Bounding: set, Effective: set, Permitted: set, Inheritable: set, Ambient: set,
				}
			},
			want: "CapInh:\t0000000000000020\nCapPrm:\t0000000000000020\nCapEff:\t0000000000000020\n" +
				"CapBnd:\t0000000000000020\nCapAmb:\t0000000000000020",
		},
		{
			name: "noNewPrivileges",
			args: []string{"grep", "^NoNewPrivs", "/proc/self/status"},
			edit: func(_ *testing.T, b *bundle) { b.spec.Process.NoNewPrivileges = true },
			want: "NoNewPrivs:\t1",
		},
		{
			name: "newPrivileges allowed",
			args: []string{"grep", "^NoNewPrivs", "/proc/self/status"},
			edit: func(_ *testing.T, b *bundle) { b.spec.Process.NoNewPrivileges = false },
			want: "NoNewPrivs:\t0",
		},
		{
			name: "oomScoreAdj",
			args: []string{"cat", "/proc/self/oom_score_adj"},
			edit: func(_ *testing.T, b *bundle) {
				adj := 123
				b.spec.Process.OOMScoreAdj = &adj
			},
			want: "123",
		},
		{
			name: "umask",
			args: []string{"sh", "-c", "umask"},
			edit: func(_ *testing.T, b *bundle) {
				m := uint32(0o027)
				b.spec.Process.User.Umask = &m
			},
			want: "0027",
		},
		{
			name: "args reach the program",
			args: []string{"sh", "-c", `printf "%s|" "$0" "$@"`, "zero", "one two", ""},
			want: "zero|one two||",
		},
	})
}
