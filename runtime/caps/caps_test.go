package caps

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/process"
	"github.com/xrt-dev/xrt/specs"
)

func TestParse(t *testing.T) {
	const (
		chown = 1 << unix.CAP_CHOWN
		kill  = 1 << unix.CAP_KILL
		admin = 1 << unix.CAP_SYS_ADMIN
		ckpt  = 1 << unix.CAP_CHECKPOINT_RESTORE
	)
	tests := []struct {
		name    string
		in      *rspec.LinuxCapabilities
		last    int
		want    Set
		wantErr string
	}{
		{name: "nil", in: nil, last: 40, want: Set{}},
		{name: "empty sets", in: &rspec.LinuxCapabilities{}, last: 40, want: Set{}},
		{
			name: "each set separately",
			in: &rspec.LinuxCapabilities{
				Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"},
				Effective:   []string{"CAP_CHOWN"},
				Permitted:   []string{"CAP_CHOWN", "CAP_KILL"},
				Inheritable: []string{"CAP_KILL"},
				Ambient:     []string{"CAP_SYS_ADMIN"},
			},
			last: 40,
			want: Set{Bounding: chown | kill | admin, Effective: chown, Permitted: chown | kill, Inheritable: kill, Ambient: admin},
		},
		{
			name: "duplicates collapse",
			in:   &rspec.LinuxCapabilities{Effective: []string{"CAP_KILL", "CAP_KILL"}},
			last: 40,
			want: Set{Effective: kill},
		},
		{
			name: "above the kernel's last cap is ignored",
			in:   &rspec.LinuxCapabilities{Bounding: []string{"CAP_CHECKPOINT_RESTORE", "CAP_CHOWN"}},
			last: 39,
			want: Set{Bounding: chown},
		},
		{
			name: "last cap itself is kept",
			in:   &rspec.LinuxCapabilities{Permitted: []string{"CAP_CHECKPOINT_RESTORE"}},
			last: 40,
			want: Set{Permitted: ckpt},
		},
		{
			name:    "unknown name in bounding",
			in:      &rspec.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_TEST"}},
			last:    40,
			wantErr: `process.capabilities.bounding: unknown capability "CAP_TEST"`,
		},
		{
			name:    "lower case is unknown",
			in:      &rspec.LinuxCapabilities{Ambient: []string{"cap_chown"}},
			last:    40,
			wantErr: `process.capabilities.ambient: unknown capability "cap_chown"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.in, tt.last)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parse() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse() error = %v", err)
			}
			if got != tt.want {
				t.Fatalf("parse() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{1 << unix.CAP_CHOWN, "CAP_CHOWN"},
		{1<<unix.CAP_KILL | 1<<unix.CAP_BPF, "CAP_KILL CAP_BPF"},
		{1 << 63, "cap_63"},
	}
	for _, tt := range tests {
		if got := names(tt.mask); got != tt.want {
			t.Errorf("names(%#x) = %q, want %q", tt.mask, got, tt.want)
		}
	}
}

func TestParseOnThisKernel(t *testing.T) {
	if last := specs.LastCap(); last < unix.CAP_AUDIT_READ {
		t.Fatalf("cap_last_cap = %d, want at least %d on any supported kernel", last, unix.CAP_AUDIT_READ)
	}
	s, err := Parse(&rspec.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}})
	if err != nil || s.Bounding != 1<<unix.CAP_CHOWN {
		t.Fatalf("Parse() = %+v, %v", s, err)
	}
}

// The child modes run in a re-executed test binary, because bounding set,
// uid and capability changes cannot be undone in the test process.
const childEnv = "XRT_CAPS_TEST_CHILD"

var childSet = Set{
	Bounding:    1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL | 1<<unix.CAP_NET_BIND_SERVICE,
	Effective:   1<<unix.CAP_CHOWN | 1<<unix.CAP_NET_BIND_SERVICE,
	Permitted:   1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL | 1<<unix.CAP_NET_BIND_SERVICE,
	Inheritable: 1 << unix.CAP_NET_BIND_SERVICE,
	// CAP_KILL is not inheritable, so Apply must skip it.
	Ambient: 1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_KILL,
}

func TestApplyInChild(t *testing.T) {
	if mode := os.Getenv(childEnv); mode != "" {
		runChild(mode)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: dropping the bounding set needs CAP_SETPCAP")
	}
	const nb = 1 << unix.CAP_NET_BIND_SERVICE
	tests := []struct {
		mode string
		want map[string]uint64
	}{
		{
			// Still root, read before exec: the sets are exactly as given.
			mode: "thread",
			want: map[string]uint64{
				"CapBnd": childSet.Bounding,
				"CapEff": childSet.Effective,
				"CapPrm": childSet.Permitted,
				"CapInh": childSet.Inheritable,
				"CapAmb": nb,
			},
		},
		{
			// After setuid(65534) and exec, only the ambient caps remain.
			mode: "exec",
			want: map[string]uint64{
				"CapBnd": childSet.Bounding,
				"CapEff": nb,
				"CapPrm": nb,
				"CapInh": nb,
				"CapAmb": nb,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			if tt.mode == "exec" {
				if _, err := os.Stat("/bin/busybox"); err != nil {
					t.Skip("needs /bin/busybox (Debian busybox-static) to read the status after exec")
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestApplyInChild$")
			cmd.Env = append(os.Environ(), childEnv+"="+tt.mode)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v: %s", err, stderr.Bytes())
			}
			got := capLines(t, out)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %#x, want %#x", k, got[k], v)
				}
			}
		})
	}
}

func runChild(mode string) {
	runtime.LockOSThread()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := childSet.DropBounding(); err != nil {
		fail(err)
	}
	if mode == "exec" {
		// The init's order: keepcaps, then the uid change on all threads.
		if err := process.SetKeepCaps(true); err != nil {
			fail(err)
		}
		if err := process.SetUser(rspec.User{UID: 65534, GID: 65534}); err != nil {
			fail(err)
		}
	}
	if err := childSet.Apply(); err != nil {
		fail(err)
	}
	if mode == "exec" {
		fail(unix.Exec("/bin/busybox", []string{"cat", "/proc/self/status"}, nil))
	}
	// Capabilities are per thread: read this thread's, not the leader's.
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(b)
	os.Exit(0)
}

func capLines(t *testing.T, status []byte) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("status line %q: %v", sc.Text(), err)
		}
		m[k] = n
	}
	if len(m) != 5 {
		t.Fatalf("found %d Cap lines in child output:\n%s", len(m), status)
	}
	return m
}

func TestApplyRefusalNamesCaps(t *testing.T) {
	// Asking for a permitted cap the thread does not hold fails; the error
	// must say which. Run on a locked thread that dies with the goroutine.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var cur [2]unix.CapUserData
		if err := unix.Capget(&hdr, &cur[0]); err != nil {
			errc <- err
			return
		}
		perm := uint64(cur[0].Permitted) | uint64(cur[1].Permitted)<<32
		missing := -1
		for n := 0; n <= unix.CAP_LAST_CAP; n++ {
			if perm&(1<<n) == 0 {
				missing = n
				break
			}
		}
		if missing < 0 {
			errc <- nil
			return
		}
		errc <- Set{Permitted: perm | 1<<missing}.Apply()
	}()
	err := <-errc
	if err == nil {
		t.Skip("this process holds every capability; nothing can be refused")
	}
	if !strings.Contains(err.Error(), "permitted but not held by the runtime: CAP_") {
		t.Fatalf("Apply() error = %v, want it to name the missing capability", err)
	}
}
