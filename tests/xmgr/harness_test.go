package xmgr

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/xrt-dev/xrt/manager/api/client"
)

var xmgrBin string

// daemonSeq numbers the daemons of this test process.
var daemonSeq atomic.Int32

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("skipping the xmgr integration tests: they need root")
		os.Exit(0)
	}
	xmgrBin = os.Getenv("XMGR_BINARY")
	if xmgrBin == "" {
		dir, err := os.MkdirTemp("", "xmgr-m4-bin-")
		if err != nil {
			panic(err)
		}
		xmgrBin = filepath.Join(dir, "xmgr")
		cmd := exec.Command("go", "build", "-o", xmgrBin, "github.com/xrt-dev/xrt/manager/cmd/xmgr")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := cmd.Run(); err != nil {
			fmt.Println("building xmgr:", err)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// env is one daemon with its private roots.
type env struct {
	t      *testing.T
	dir    string
	host   string
	data   string
	exec   string
	config string // DOCKER_CONFIG of the clients
	// bridge and bip are the default network's device and subnet, private
	// to this daemon so that test daemons running at once never share
	// addresses.
	bridge, bip string
	cmd         *exec.Cmd
	waited      chan struct{}
}

// newDaemon starts `xmgr daemon` on a private socket and roots; it is
// stopped (SIGTERM) and its files removed when the test ends.
func newDaemon(t *testing.T, extra ...string) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "xmgr-m4-")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, dir: dir,
		host:   "unix://" + filepath.Join(dir, "xmgr.sock"),
		data:   filepath.Join(dir, "data"),
		exec:   filepath.Join(dir, "exec"),
		config: filepath.Join(dir, "docker-config"),
	}
	n := daemonSeq.Add(1)
	e.bridge = fmt.Sprintf("xmt%d-%d", os.Getpid()%100000, n)
	e.bip = fmt.Sprintf("10.%d.%d.0/24", 230+int(n)%20, os.Getpid()%250)
	t.Cleanup(func() {
		e.stop()
		dropNetwork(e.bridge, e.bip)
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "daemon.log")); err == nil {
				t.Logf("daemon log:\n%s", tail(string(b), 4000))
			}
		}
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	e.start(extra...)
	return e
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// unmountUnder lazily unmounts anything a failed test left mounted below
// dir, so that RemoveAll cannot reach into a mount.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			_ = syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
}

func (e *env) start(extra ...string) {
	e.t.Helper()
	logf, err := os.OpenFile(filepath.Join(e.dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"daemon", "--host", e.host, "--data-root", e.data, "--exec-root", e.exec, "--debug",
		"--bridge", e.bridge, "--bip", e.bip}, extra...)
	e.cmd = exec.Command(xmgrBin, args...)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	// The daemon's own registry credentials (what login stores daemon
	// side) stay in the test's directory, never in root's ~/.docker.
	e.cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+e.daemonConfig())
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.waited = make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(e.waited) }()
	c := e.client()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Negotiate(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-e.waited:
			b, _ := os.ReadFile(filepath.Join(e.dir, "daemon.log"))
			e.t.Fatalf("the daemon exited at start:\n%s", b)
		case <-time.After(20 * time.Millisecond):
		}
		if i > 3000 {
			e.t.Fatalf("the daemon did not answer: %v", err)
		}
	}
}

// stop ends the daemon with SIGTERM (SIGKILL if it hangs) and waits.
func (e *env) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.waited:
	case <-time.After(30 * time.Second):
		e.t.Errorf("the daemon ignored SIGTERM for 30s; killing it")
		_ = e.cmd.Process.Kill()
		<-e.waited
	}
	e.cmd = nil
}

// kill ends the daemon with SIGKILL, as a crash would.
func (e *env) kill() {
	_ = e.cmd.Process.Kill()
	<-e.waited
	e.cmd = nil
}

// daemonConfig is the daemon's DOCKER_CONFIG directory.
func (e *env) daemonConfig() string { return filepath.Join(e.dir, "daemon-config") }

func (e *env) client() *client.Client {
	c, err := client.New(e.host)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

func run(t *testing.T, stdin io.Reader, env []string, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &o, &e, stdin
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	r := result{out: o.String(), err: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return r
}

// xmgr runs the CLI against this daemon; auto-start is off.
func (e *env) xmgr(args ...string) result {
	e.t.Helper()
	return run(e.t, nil, []string{"XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG=" + e.config}, xmgrBin, append([]string{"-H", e.host}, args...)...)
}

// ok runs the CLI and fails the test unless it exits 0.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.xmgr(args...)
	if r.code != 0 {
		e.t.Fatalf("xmgr %s: %s", strings.Join(args, " "), r)
	}
	return r.out
}

func (e *env) docker(bin string, args ...string) result {
	e.t.Helper()
	return run(e.t, nil, []string{"DOCKER_HOST=" + e.host, "DOCKER_CONFIG=" + e.config}, bin, args...)
}

// registry is Debian's docker-registry on a loopback port.
type registry struct{ host, user, password string }

func startRegistry(t *testing.T) *registry { return startRegistryAuth(t, "", "") }

// startRegistryAuth starts a registry that wants basic auth (htpasswd,
// bcrypt) for user and password, or none when user is "".
func startRegistryAuth(t *testing.T, user, password string) *registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry is not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "store"), addr)
	if user != "" {
		htpasswd, err := exec.LookPath("htpasswd")
		if err != nil {
			t.Skip("htpasswd is not installed (apt-get install apache2-utils)")
		}
		out, err := exec.Command(htpasswd, "-Bbn", user, password).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, out, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: m4-realm\n    path: %s\n", pw)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 || (user != "" && resp.StatusCode == 401) {
				break
			}
		}
		if i > 500 {
			t.Fatalf("the registry did not answer on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &registry{host: addr, user: user, password: password}
}

// tarLayer makes a layer from files (name -> content; a value starting
// with "->" is a symlink target).
func tarLayer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for name, content := range files {
		if d := filepath.Dir(name); d != "." && !dirs[d] {
			dirs[d] = true
			_ = tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(1700000000, 0)})
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, ModTime: time.Unix(1700000000, 0)})
			continue
		}
		mode := int64(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(content)), ModTime: time.Unix(1700000000, 0)})
		_, _ = tw.Write([]byte(content))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pushImage writes a two-layer busybox image (busybox-static, and a text
// file with the given content) to the registry as repo:tag, with label
// m4=<text> ("big" for a long text), and returns its reference.
func (r *registry) pushImage(t *testing.T, repoTag, text string) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox-static is not installed")
	}
	img, err := mutate.AppendLayers(empty.Image,
		tarLayer(t, map[string]string{"bin/busybox": string(bb), "bin/sh": "->busybox", "bin/ls": "->busybox"}),
		tarLayer(t, map[string]string{"etc/m4.txt": text}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Now().Add(-2 * time.Hour).UTC()}
	cf.Config.Cmd = []string{"sh"}
	cf.Config.Env = []string{"PATH=/bin"}
	label := text
	if len(label) > 64 {
		label = "big"
	}
	cf.Config.Labels = map[string]string{"m4": label}
	cf.History = []v1.History{
		{Created: cf.Created, CreatedBy: "/bin/sh -c #(nop) ADD file:busybox in / "},
		{Created: cf.Created, CreatedBy: "/bin/sh -c echo text > /etc/m4.txt"},
		{Created: cf.Created, CreatedBy: "/bin/sh -c #(nop)  CMD [\"sh\"]", EmptyLayer: true},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref := r.host + "/" + repoTag
	n, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var opts []remote.Option
	if r.user != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.password}))
	}
	if err := remote.Write(n, img, opts...); err != nil {
		t.Fatalf("pushing the test image: %v", err)
	}
	return ref
}

// dockerCLIs are the Docker clients installed: Debian's (API 1.41) and any
// other.
func dockerCLIs() []string {
	var out []string
	for _, p := range []string{"/usr/bin/docker", "/usr/local/bin/docker"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}
