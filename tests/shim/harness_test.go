package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/xrt-dev/xrt/shim/client"
)

// busybox is a copy of /bin/busybox that every rootfs links to, made before
// any test forks (a file open for writing during a fork can make its exec
// fail with ETXTBSY).
var busybox string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "xrt-shim-it-busybox-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755)
		if data, err := os.ReadFile("/bin/busybox"); err == nil {
			busybox = filepath.Join(dir, "busybox")
			if err := os.WriteFile(busybox, data, 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

var applets = []string{"sh", "echo", "cat", "sleep", "true", "false", "kill", "stty", "head", "yes", "seq", "tty", "dd"}

// runtimeUnderTest is one runtime the tests run containers with.
type runtimeUnderTest struct{ name, path string }

// binaries returns xrt-shim and the runtimes to test, or skips.
func binaries(t *testing.T) (string, []runtimeUnderTest) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the shim's integration tests run real containers and need root")
	}
	shimBin := os.Getenv("XRT_SHIM_BINARY")
	xrtBin := os.Getenv("XRT_BINARY")
	if shimBin == "" || xrtBin == "" {
		t.Skip("set XRT_SHIM_BINARY and XRT_BINARY (make build; bin/xrt-shim, bin/xrt)")
	}
	if busybox == "" {
		t.Skip("the rootfs is made from /bin/busybox (Debian's busybox-static), which is missing")
	}
	rts := []runtimeUnderTest{{"xrt", xrtBin}}
	if p, err := exec.LookPath("runc"); err == nil {
		rts = append(rts, runtimeUnderTest{"runc", p})
	}
	return shimBin, rts
}

// forEachRuntime runs f as a subtest for xrt and (when installed) runc.
func forEachRuntime(t *testing.T, f func(t *testing.T, rt runtimeUnderTest)) {
	_, rts := binaries(t)
	for _, rt := range rts {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			f(t, rt)
		})
	}
}

var idSeq atomic.Int64

// box is one test container: its bundle, the runtime's root, the shim's
// state root and the log.
type box struct {
	t       *testing.T
	rt      runtimeUnderTest
	shimBin string
	id      string
	bundle  string
	rtRoot  string
	root    string // state root: the shim's dir is root/id
	logPath string
	spec    *rspec.Spec
}

func (b *box) stateDir() string { return filepath.Join(b.root, b.id) }

// newBox makes a busybox bundle whose config.json comes from `xrt spec`,
// running args without a terminal.
func newBox(t *testing.T, rt runtimeUnderTest, args ...string) *box {
	t.Helper()
	shimBin, _ := binaries(t)
	tmp := t.TempDir()
	os.Chmod(tmp, 0o755)
	b := &box{t: t, rt: rt, shimBin: shimBin,
		id:     fmt.Sprintf("shim-it-%d-%d", os.Getpid(), idSeq.Add(1)),
		bundle: filepath.Join(tmp, "bundle"), rtRoot: filepath.Join(tmp, "rt"),
		root: filepath.Join(tmp, "shims"), logPath: filepath.Join(tmp, "logs", "c.log")}
	rootfs := filepath.Join(b.bundle, "rootfs")
	for _, d := range []string{"bin", "dev", "proc", "sys", "etc", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	must(t, os.MkdirAll(filepath.Dir(b.logPath), 0o755))
	must(t, os.MkdirAll(b.root, 0o700))
	must(t, os.Link(busybox, filepath.Join(rootfs, "bin", "busybox")))
	for _, a := range applets {
		must(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", a)))
	}
	out, err := exec.Command(os.Getenv("XRT_BINARY"), "spec", "--bundle", b.bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("xrt spec: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(b.bundle, "config.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &b.spec))
	b.spec.Process.Terminal = false
	b.spec.Process.Args = args
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (b *box) save() {
	data, err := json.MarshalIndent(b.spec, "", "\t")
	must(b.t, err)
	must(b.t, os.WriteFile(filepath.Join(b.bundle, "config.json"), data, 0o644))
}

func (b *box) options() client.Options {
	return client.Options{Binary: b.shimBin, ID: b.id, Bundle: b.bundle, Runtime: b.rt.path,
		RuntimeRoot: b.rtRoot, StateDir: b.stateDir(), LogPath: b.logPath,
		Terminal: b.spec.Process.Terminal}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// start starts the container under a shim and arranges that container and
// shim are gone when the test ends, however it ends.
func (b *box) start(edit func(*client.Options)) *client.Shim {
	b.t.Helper()
	b.save()
	o := b.options()
	if edit != nil {
		edit(&o)
	}
	s, err := client.Start(ctxT(b.t), o)
	if err != nil {
		b.t.Fatalf("start: %v", err)
	}
	b.cleanup()
	return s
}

// cleanup removes what a test may leave: the container (through its
// runtime), then the shim, which exits by itself once its status is
// collected; it is killed (by the pid it recorded) only when it does not.
func (b *box) cleanup() {
	b.t.Cleanup(func() {
		exec.Command(b.rt.path, "--root", b.rtRoot, "delete", "--force", b.id).Run()
		data, err := os.ReadFile(filepath.Join(b.stateDir(), "shim.json"))
		if err != nil {
			return
		}
		var in struct {
			ShimPid int `json:"shim_pid"`
		}
		if json.Unmarshal(data, &in) != nil || in.ShimPid <= 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if s, err := client.Connect(ctx, b.stateDir()); err == nil {
			s.Wait(ctx)
		}
		for isShim(in.ShimPid) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		if isShim(in.ShimPid) {
			b.t.Errorf("shim %d still runs after its container was deleted and its status collected", in.ShimPid)
			syscall.Kill(in.ShimPid, syscall.SIGKILL)
		}
	})
}

// isShim reports whether pid runs xrt-shim (and not a process that reused
// the pid). A zombie does not count: the shim was re-parented when its
// first process exited, and whoever it went to reaps it in its own time.
func isShim(pid int) bool {
	comm := filepath.Base(os.Getenv("XRT_SHIM_BINARY"))
	if len(comm) > 15 {
		comm = comm[:15] // the kernel keeps 15 bytes of a command name
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return strings.HasPrefix(s, fmt.Sprintf("%d (%s)", pid, comm)) && i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// logEntry is one line of a json-file log.
type logEntry struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

func readLog(t *testing.T, path string) []logEntry {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var out []logEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e logEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			t.Fatalf("%s: time %q: %v", path, e.Time, err)
		}
		out = append(out, e)
	}
	return out
}

// logText joins the entries of one stream.
func logText(entries []logEntry, stream string) string {
	var b strings.Builder
	for _, e := range entries {
		if e.Stream == stream {
			b.WriteString(e.Log)
		}
	}
	return b.String()
}

// waitFor polls cond for up to 15 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
