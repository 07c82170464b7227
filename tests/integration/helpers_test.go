package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// cmdTimeout bounds one xrt command, so a hung runtime fails a test instead
// of the whole suite.
const cmdTimeout = 20 * time.Second

// requireXRT returns the binary under test, or skips the test.
func requireXRT(t *testing.T) string {
	t.Helper()
	p := os.Getenv("XRT_BINARY")
	if p == "" {
		t.Skip("XRT_BINARY is not set: run `make build` and set XRT_BINARY=$PWD/bin/xrt")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("XRT_BINARY: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("integration tests run real containers and need root")
	}
	return p
}

// result is what one xrt command did.
type result struct {
	cmd            string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("`%s` exited %d\nstdout: %q\nstderr: %q", r.cmd, r.code, r.stdout, r.stderr)
}

// runOpts are the optional inputs of an xrt command.
type runOpts struct {
	stdin io.Reader
	extra []*os.File // become fds 3, 4, ... of xrt
}

// execXRT runs xrt with args. Its stdout and stderr go to files rather than
// pipes: a container started by create or run -d inherits them, and a pipe
// would make Wait block until the container exits.
func execXRT(bin string, o runOpts, args ...string) (result, error) {
	r := result{cmd: quoteCmd(append([]string{"xrt"}, args...))}
	outF, err := os.CreateTemp("", "xrt-it-stdout-")
	if err != nil {
		return r, err
	}
	defer os.Remove(outF.Name())
	defer outF.Close()
	errF, err := os.CreateTemp("", "xrt-it-stderr-")
	if err != nil {
		return r, err
	}
	defer os.Remove(errF.Name())
	defer errF.Close()

	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = o.stdin
	cmd.Stdout, cmd.Stderr = outF, errF
	cmd.ExtraFiles = o.extra
	runErr := cmd.Run()
	out, _ := os.ReadFile(outF.Name())
	errOut, _ := os.ReadFile(errF.Name())
	r.stdout, r.stderr = string(out), string(errOut)
	if runErr == nil {
		return r, nil
	}
	var ee *exec.ExitError
	if !errors.As(runErr, &ee) {
		return r, fmt.Errorf("%s: %w", r.cmd, runErr)
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s: killed after %v\nstdout: %q\nstderr: %q", r.cmd, cmdTimeout, r.stdout, r.stderr)
	}
	r.code = ee.ExitCode()
	return r, nil
}

// runXRT runs xrt and fails the test when it cannot run or hangs.
func runXRT(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	r, err := execXRT(requireXRT(t), o, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func quoteCmd(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$\\") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// applets are the busybox programs the rootfs offers.
var applets = []string{
	"sh", "echo", "cat", "ls", "id", "hostname", "sleep", "true", "false", "mount",
	"stat", "touch", "ps", "readlink", "kill", "grep", "wc", "tty", "pwd", "env", "mkdir", "head",
}

// busybox is a copy of /bin/busybox that every rootfs links to. It is
// written before any test starts a process: a file open for writing while
// another goroutine forks can make a later exec of it fail with ETXTBSY.
var busybox string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "xrt-it-busybox-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
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

// makeRootfs lays out a small image: busybox and its applets, and the
// directories a real image has.
func makeRootfs(t *testing.T, dir string) {
	t.Helper()
	if busybox == "" {
		t.Skip("the rootfs is made from /bin/busybox (Debian's busybox-static), which is missing")
	}
	for _, d := range []string{"bin", "dev", "proc", "sys", "etc", "root", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(busybox, filepath.Join(dir, "bin", "busybox")); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
}

var idSeq atomic.Int64

// newID returns a container id unique on this host: ids name cgroups too,
// which all tests share.
func newID() string {
	return fmt.Sprintf("xrt-it-%d-%d", os.Getpid(), idSeq.Add(1))
}

// bundle is one test's bundle, state root and container id.
type bundle struct {
	t    *testing.T
	dir  string // config.json and rootfs
	root string // --root, private to the test
	id   string
	spec *rspec.Spec
	want string // the stdout an insideCase's edit expects, when it computes it
}

// newBundle makes a bundle whose config.json comes from `xrt spec`, without
// a terminal and with args as the process. The container is force-deleted
// when the test ends, however it ends.
func newBundle(t *testing.T, args ...string) *bundle {
	t.Helper()
	requireXRT(t)
	tmp := t.TempDir()
	// Let unprivileged users in (a user namespace's root is one) to reach the bundle.
	for d := tmp; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := &bundle{t: t, dir: filepath.Join(tmp, "bundle"), root: filepath.Join(tmp, "root"), id: newID()}
	makeRootfs(t, filepath.Join(b.dir, "rootfs"))
	if r := runXRT(t, runOpts{}, "spec", "--bundle", b.dir); r.code != 0 {
		t.Fatalf("make config.json: %s", r)
	}
	data, err := os.ReadFile(filepath.Join(b.dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &b.spec); err != nil {
		t.Fatalf("config.json from `xrt spec`: %v", err)
	}
	if b.spec.Process == nil || b.spec.Linux == nil || b.spec.Root == nil {
		t.Fatalf("config.json from `xrt spec` lacks process, root or linux:\n%s", data)
	}
	b.spec.Process.Terminal = false
	b.spec.Process.Args = args
	b.cleanup(b.id)
	return b
}

// cleanup force-deletes container id when the test ends and reports a
// container that survives that.
func (b *bundle) cleanup(id string) {
	t := b.t
	t.Cleanup(func() {
		r, err := execXRT(requireXRT(t), runOpts{}, "--root", b.root, "delete", "--force", id)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		if id != "" && !strings.Contains(id, "/") && id != ".." && exists(filepath.Join(b.root, id)) {
			t.Errorf("cleanup: container %s still has a state dir after %s", id, r)
		}
	})
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// save writes the bundle's config.json.
func (b *bundle) save() {
	b.t.Helper()
	data, err := json.MarshalIndent(b.spec, "", "\t")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// rootfs returns the host path of p inside the bundle's rootfs.
func (b *bundle) rootfs(p string) string {
	return filepath.Join(b.dir, "rootfs", p)
}

// xrt runs xrt with the test's --root.
func (b *bundle) xrt(args ...string) result {
	b.t.Helper()
	return b.xrtWith(runOpts{}, args...)
}

func (b *bundle) xrtWith(o runOpts, args ...string) result {
	b.t.Helper()
	return runXRT(b.t, o, append([]string{"--root", b.root}, args...)...)
}

// create saves config.json and runs `xrt create` of the bundle's container.
func (b *bundle) create(flags ...string) result {
	b.t.Helper()
	b.save()
	return b.xrt(b.verb("create", b.id, flags)...)
}

// run saves config.json and runs `xrt run` of the bundle's container.
func (b *bundle) run(flags ...string) result {
	b.t.Helper()
	return b.runWith(runOpts{}, flags...)
}

func (b *bundle) runWith(o runOpts, flags ...string) result {
	b.t.Helper()
	b.save()
	return b.xrtWith(o, b.verb("run", b.id, flags)...)
}

func (b *bundle) verb(verb, id string, flags []string) []string {
	args := append([]string{verb, "--bundle", b.dir}, flags...)
	return append(args, id)
}

// mustCreate creates the container and returns its state.
func (b *bundle) mustCreate(flags ...string) ociState {
	b.t.Helper()
	if r := b.create(flags...); r.code != 0 {
		b.t.Fatalf("create: %s", r)
	}
	return b.mustState(b.id)
}

func (b *bundle) mustStart() {
	b.t.Helper()
	if r := b.xrt("start", b.id); r.code != 0 {
		b.t.Fatalf("start: %s", r)
	}
}

// ociState is what `xrt state` prints.
type ociState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     string            `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations"`
}

func (b *bundle) mustState(id string) ociState {
	b.t.Helper()
	r := b.xrt("state", id)
	if r.code != 0 {
		b.t.Fatalf("state: %s", r)
	}
	var st ociState
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		b.t.Fatalf("state: %v in %s", err, r)
	}
	return st
}

// waitStatus polls `xrt state` until the container has status want.
func (b *bundle) waitStatus(id, want string) ociState {
	b.t.Helper()
	var st ociState
	waitFor(b.t, "container "+id+" to be "+want, func() bool {
		st = b.mustState(id)
		return st.Status == want
	})
	return st
}

// waitFor polls cond every few milliseconds for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// insideCase runs a container in the foreground and checks what it prints.
type insideCase struct {
	name     string
	args     []string
	edit     func(t *testing.T, b *bundle) // changes the bundle before run
	want     string                        // stdout, trimmed of surrounding space
	wantCode int
	anyCode  bool                                    // the check judges the exit code
	wantErr  string                                  // a substring of stderr, when set
	check    func(t *testing.T, b *bundle, r result) // replaces want when set
}

func runInside(t *testing.T, cases []insideCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, tc.args...)
			if tc.edit != nil {
				tc.edit(t, b)
			}
			r := b.run()
			if r.code != tc.wantCode && !tc.anyCode {
				t.Fatalf("want exit %d, got %s", tc.wantCode, r)
			}
			if tc.wantErr != "" && !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("want %q in stderr, got %s", tc.wantErr, r)
			}
			if tc.check != nil {
				tc.check(t, b, r)
				return
			}
			want := tc.want
			if b.want != "" {
				want = b.want
			}
			if got := strings.TrimSpace(r.stdout); got != want {
				t.Errorf("want stdout %q, got %s", want, r)
			}
		})
	}
}

// hostSnapshot is what a failed create must leave unchanged on the host.
type hostSnapshot struct {
	mounts  int
	pids    map[int]bool
	entries map[string][]string // directory -> names in it
}

func snapshotHost(t *testing.T, dirs ...string) hostSnapshot {
	t.Helper()
	s := hostSnapshot{mounts: countMounts(t), pids: map[int]bool{}, entries: map[string][]string{}}
	for _, pid := range listPids(t) {
		s.pids[pid] = true
	}
	// The parents of the containers' default cgroups: a failed create must
	// leave no cgroup behind either.
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/xrt")
	for _, d := range append(dirs, cgroups...) {
		s.entries[d] = dirNames(d)
	}
	return s
}

// checkUnchanged fails the test when mounts, container processes or
// directory entries appeared since the snapshot.
func (s hostSnapshot) checkUnchanged(t *testing.T) {
	t.Helper()
	// A process on its way out may need a moment to be reaped.
	deadline := time.Now().Add(2 * time.Second)
	changes := s.changes(t)
	for len(changes) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		changes = s.changes(t)
	}
	for _, c := range changes {
		t.Error(c)
	}
}

// changes lists what differs on the host from the snapshot.
func (s hostSnapshot) changes(t *testing.T) []string {
	t.Helper()
	var diffs []string
	if n := countMounts(t); n != s.mounts {
		diffs = append(diffs, fmt.Sprintf("the host's mount table had %d entries before, %d after", s.mounts, n))
	}
	for d, before := range s.entries {
		if after := dirNames(d); !slices.Equal(before, after) {
			diffs = append(diffs, fmt.Sprintf("%s held %q before, %q after", d, before, after))
		}
	}
	for _, p := range s.newContainerProcs(t) {
		diffs = append(diffs, "process left behind: "+p)
	}
	return diffs
}

// newContainerProcs lists live processes started since the snapshot that
// look like the runtime's or a container's: in another mount or pid
// namespace than ours, or running xrt.
func (s hostSnapshot) newContainerProcs(t *testing.T) []string {
	t.Helper()
	bin := filepath.Base(os.Getenv("XRT_BINARY"))
	mntNS, _ := os.Readlink("/proc/self/ns/mnt")
	pidNS, _ := os.Readlink("/proc/self/ns/pid")
	var left []string
	for _, pid := range listPids(t) {
		if s.pids[pid] {
			continue
		}
		dir := "/proc/" + strconv.Itoa(pid)
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue // gone
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue // exited; its parent reaps it
		}
		cmdline, _ := os.ReadFile(dir + "/cmdline")
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		m, _ := os.Readlink(dir + "/ns/mnt")
		p, _ := os.Readlink(dir + "/ns/pid")
		if (m != "" && m != mntNS) || (p != "" && p != pidNS) || (bin != "." && strings.Contains(string(cmdline), bin)) {
			left = append(left, fmt.Sprintf("pid %d %q", pid, args))
		}
	}
	return left
}

func countMounts(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}

func listPids(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// dirNames lists a directory's entries, sorted; nil when it does not exist.
func dirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// alive tells whether pid exists and has not exited.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}
