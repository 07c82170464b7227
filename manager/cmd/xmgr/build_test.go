package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
)

// fakeBuilder is the daemon's build backend as the CLI tests see it: it
// records the options and the context it was sent.
type fakeBuilder struct {
	mu   sync.Mutex
	opts server.BuildOptions
	body []byte
	fail error
}

func (f *fakeBuilder) Build(_ context.Context, opts server.BuildOptions, r io.Reader, out io.Writer) (string, error) {
	b, err := io.ReadAll(r)
	f.mu.Lock()
	f.opts, f.body = opts, b
	fail := f.fail
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	fmt.Fprintln(out, `{"stream":"Step 1/1 : FROM busybox\n"}`)
	if fail != nil {
		return "", fail
	}
	fmt.Fprintln(out, `{"aux":{"ID":"sha256:feed"}}`)
	fmt.Fprintln(out, `{"stream":"Successfully built feed\n"}`)
	return "sha256:feed", nil
}

func (f *fakeBuilder) BuildCachePrune(context.Context, bool) (int64, error) { return 2048, nil }

type exitErr struct{ code int }

func (e exitErr) Error() string {
	return fmt.Sprintf("The command '/bin/sh -c exit %d' returned a non-zero code: %d", e.code, e.code)
}
func (e exitErr) ExitCode() int { return e.code }

// fakeTar stands in for buildcontext.Tar: a tar of the Dockerfile alone,
// under a made-up name when it is outside the context.
func fakeTar(dir, dockerfile string, w io.Writer) (string, error) {
	name := "Dockerfile"
	if rel, err := filepath.Rel(dir, dockerfile); err == nil && !strings.HasPrefix(rel, "..") {
		name = rel
	} else {
		name = ".dockerfile.random"
	}
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b))}); err != nil {
		return "", err
	}
	tw.Write(b)
	return name, tw.Close()
}

// restoreImageBuild undoes TestInterspersedParse's replacement of the
// action of `image build`, which lives in the package-level image group.
func restoreImageBuild() {
	for _, c := range imageCommand.Subcommands {
		if c.Name == "build" {
			c.Action = runBuild
		}
	}
}

func startBuildDaemon(t *testing.T) (*fakeBuilder, *fakeDaemon) {
	t.Helper()
	restoreImageBuild()
	saved := contextTar
	contextTar = fakeTar
	t.Cleanup(func() { contextTar = saved })
	f := &fakeBuilder{}
	s := server.New(server.Config{Builder: f})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Events().Close)
	return f, &fakeDaemon{srv: ts}
}

// contextEntries lists a tar's entries.
func contextEntries(b []byte) []string {
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			return names
		}
		names = append(names, h.Name)
	}
}

func strp(s string) *string { return &s }

func TestBuildFlags(t *testing.T) {
	f, d := startBuildDaemon(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "Other"), []byte("FROM busybox\n"), 0o644)
	outside := filepath.Join(t.TempDir(), "Elsewhere")
	os.WriteFile(outside, []byte("FROM busybox\n"), 0o644)
	t.Setenv("FROMENV", "env-value")
	os.Unsetenv("XMGR_UNSET_ARG")

	tests := []struct {
		name  string
		args  []string
		want  server.BuildOptions
		files []string // entries of the context tar
	}{
		{name: "defaults", args: []string{dir},
			want: server.BuildOptions{Remove: true, Dockerfile: "Dockerfile"}, files: []string{"Dockerfile"}},
		{name: "everything", args: []string{"-t", "a:1", "-t", "b", dir, "--build-arg", "X=1", "--build-arg", "FROMENV",
			"--build-arg", "XMGR_UNSET_ARG", "--build-arg", "E=", "--target", "t", "--no-cache", "--pull", "--label", "l=v", "--label", "k",
			"--network", "host", "--rm=false", "--force-rm", "--platform", "linux/amd64", "--cache-from", "c:1"},
			want: server.BuildOptions{Tags: []string{"a:1", "b"}, Dockerfile: "Dockerfile", Target: "t", NoCache: true, Pull: true,
				BuildArgs: map[string]*string{"X": strp("1"), "FROMENV": strp("env-value"), "E": strp("")},
				Labels:    map[string]string{"l": "v", "k": ""}, NetworkMode: "host", Remove: true, ForceRemove: true,
				Platform: "linux/amd64", CacheFrom: []string{"c:1"}},
			files: []string{"Dockerfile"}},
		{name: "resources", args: []string{dir, "-m", "64m", "--memory-swap", "-1", "-c", "512", "--cpu-period", "100000",
			"--cpu-quota", "50000", "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--cgroup-parent", "p", "--shm-size", "1g",
			"--ulimit", "nofile=100:200", "--ulimit", "nproc=50", "--add-host", "db:10.0.0.2", "--add-host", "v6:::1"},
			want: server.BuildOptions{Remove: true, Dockerfile: "Dockerfile", Memory: 64 << 20, MemorySwap: -1, CPUShares: 512,
				CPUPeriod: 100000, CPUQuota: 50000, CpusetCpus: "0-1", CpusetMems: "0", CgroupParent: "p", ShmSize: 1 << 30,
				Ulimits:    []*types.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}, {Name: "nproc", Soft: 50, Hard: 50}},
				ExtraHosts: []string{"db:10.0.0.2", "v6:::1"}},
			files: []string{"Dockerfile"}},
		{name: "memory and swap sizes", args: []string{dir, "--memory", "1g", "--memory-swap", "2g", "--shm-size", "65536"},
			want:  server.BuildOptions{Remove: true, Dockerfile: "Dockerfile", Memory: 1 << 30, MemorySwap: 2 << 30, ShmSize: 65536},
			files: []string{"Dockerfile"}},
		{name: "file inside", args: []string{"-f", filepath.Join(dir, "sub", "Other"), dir},
			want: server.BuildOptions{Remove: true, Dockerfile: "sub/Other"}, files: []string{"sub/Other"}},
		{name: "file outside", args: []string{dir, "-f", outside},
			want: server.BuildOptions{Remove: true, Dockerfile: ".dockerfile.random"}, files: []string{".dockerfile.random"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, msg := runCLI(t, d, append([]string{"build"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, msg)
			}
			if !reflect.DeepEqual(f.opts, tt.want) {
				t.Errorf("options = %+v\nwant      %+v", f.opts, tt.want)
			}
			if got := contextEntries(f.body); !reflect.DeepEqual(got, tt.files) {
				t.Errorf("context holds %q, want %q", got, tt.files)
			}
			want := fmt.Sprintf("Sending build context to xmgr daemon  %s\nStep 1/1 : FROM busybox\nSuccessfully built feed\n", humanSizeOf(len(f.body)))
			if out != want {
				t.Errorf("output %q\nwant   %q", out, want)
			}
		})
	}
}

func humanSizeOf(n int) string {
	// Docker's legacy builder: four significant digits, decimal units.
	switch {
	case n < 1000:
		return fmt.Sprintf("%dB", n)
	default:
		return fmt.Sprintf("%.4gkB", float64(n)/1000)
	}
}

func TestBuildContexts(t *testing.T) {
	f, d := startBuildDaemon(t)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "ctx.tar")
	os.WriteFile(tarPath, []byte("not really a tar"), 0o644)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ctx.tar.gz" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "gzipped context")
	}))
	defer web.Close()

	tests := []struct {
		name  string
		stdin string
		args  []string
		body  string
		df    string
		code  int
		msg   string
	}{
		{name: "stdin", stdin: "FROM busybox\n", args: []string{"-"}, body: "FROM busybox\n"},
		{name: "stdin with -f", stdin: "tar", args: []string{"-", "-f", "sub/D"}, body: "tar", df: "sub/D"},
		{name: "tar file", args: []string{tarPath}, body: "not really a tar"},
		{name: "url", args: []string{web.URL + "/ctx.tar.gz"}, body: "gzipped context"},
		{name: "url not found", args: []string{web.URL + "/nothing"}, code: 1, msg: "404 Not Found"},
		{name: "git", args: []string{"https://github.com/a/b.git#main"}, code: 125, msg: "git build contexts"},
		{name: "stdin twice", args: []string{"-", "-f", "-"}, code: 125, msg: "can't use stdin for both"},
		{name: "missing path", args: []string{filepath.Join(dir, "nope")}, code: 1, msg: "unable to prepare context: path"},
		{name: "no Dockerfile", args: []string{dir}, code: 1, msg: "unable to prepare context: unable to evaluate symlinks in Dockerfile path"},
		{name: "bad tag", args: []string{"-t", "Bad", dir}, code: 125, msg: `invalid argument "Bad" for "-t, --tag" flag`},
		{name: "no args", args: nil, code: 125, msg: "requires exactly 1 argument"},
		{name: "bad memory", args: []string{"--memory", "foo", dir}, code: 125, msg: `invalid argument "foo" for "--memory" flag`},
		{name: "bad memory-swap", args: []string{"--memory-swap", "x", dir}, code: 125, msg: `invalid argument "x" for "--memory-swap" flag`},
		{name: "bad shm-size", args: []string{"--shm-size", "big", dir}, code: 125, msg: `invalid argument "big" for "--shm-size" flag`},
		{name: "bad ulimit", args: []string{"--ulimit", "x", dir}, code: 125, msg: `invalid argument "x" for "--ulimit" flag`},
		{name: "bad add-host", args: []string{"--add-host", "nocolon", dir}, code: 125, msg: `invalid argument "nocolon" for "--add-host" flag: bad format for add-host`},
		{name: "bad add-host ip", args: []string{"--add-host", "h:1.2.3", dir}, code: 125, msg: "invalid IP address in add-host"},
		{name: "bad cpu-shares", args: []string{"--cpu-shares", "lots", dir}, code: 125, msg: "cpu-shares"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "stdin")
			os.WriteFile(in, []byte(tt.stdin), 0o644)
			fin, _ := os.Open(in)
			defer fin.Close()
			saved := os.Stdin
			os.Stdin = fin
			defer func() { os.Stdin = saved }()
			f.body = nil
			_, code, msg := runCLI(t, d, append([]string{"build"}, tt.args...)...)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("exit %d (%s), want %d with %q", code, msg, tt.code, tt.msg)
			}
			if tt.code == 0 && (string(f.body) != tt.body || f.opts.Dockerfile != tt.df) {
				t.Errorf("sent %q (dockerfile %q), want %q (%q)", f.body, f.opts.Dockerfile, tt.body, tt.df)
			}
		})
	}
}

func TestBuildQuietIIDFileAndFailure(t *testing.T) {
	f, d := startBuildDaemon(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\n"), 0o644)
	iid := filepath.Join(t.TempDir(), "iid")
	os.WriteFile(iid, []byte("stale"), 0o644)

	out, code, msg := runCLI(t, d, "build", "-q", "--iidfile", iid, dir)
	if code != 0 || out != "sha256:feed\n" {
		t.Fatalf("quiet build: exit %d (%s), output %q", code, msg, out)
	}
	if b, _ := os.ReadFile(iid); string(b) != "sha256:feed" {
		t.Errorf("iidfile holds %q", b)
	}
	// image build and builder build are the same command.
	for _, cmd := range [][]string{{"image", "build"}, {"builder", "build"}} {
		if out, code, msg := runCLI(t, d, append(cmd, "-q", dir)...); code != 0 || out != "sha256:feed\n" {
			t.Errorf("%v: exit %d (%s), output %q", cmd, code, msg, out)
		}
	}

	f.fail = exitErr{3}
	out, code, msg = runCLI(t, d, "build", "--iidfile", iid, dir)
	if code != 3 || !strings.Contains(msg, "returned a non-zero code: 3") {
		t.Errorf("failed RUN: exit %d (%s), want 3", code, msg)
	}
	if !strings.Contains(out, "Step 1/1") {
		t.Errorf("failed build output %q", out)
	}
	if _, err := os.Stat(iid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed build left the iidfile: %v", err)
	}
	f.fail = errors.New("plain failure")
	if _, code, msg := runCLI(t, d, "build", "-q", dir); code != 1 || !strings.Contains(msg, "plain failure") {
		t.Errorf("failed quiet build: exit %d (%s)", code, msg)
	}
}

func TestBuilderPrune(t *testing.T) {
	_, d := startBuildDaemon(t)
	out, code, msg := runCLI(t, d, "builder", "prune", "-af")
	if code != 0 || out != "Total reclaimed space: 2.048kB\n" {
		t.Errorf("builder prune: exit %d (%s), output %q", code, msg, out)
	}
}
