package bundle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/specs"
)

// The test in this file runs generated bundles under the real xrt: as
// root, with bin/xrt built (`make build`) or $XRT_BINARY, and Debian's
// busybox-static at /bin/busybox.

func runPrereqs(t *testing.T) (xrt string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs containers under xrt: needs root")
	}
	xrt = os.Getenv("XRT_BINARY")
	if xrt == "" {
		abs, err := filepath.Abs("../bin/xrt")
		if err != nil {
			t.Fatal(err)
		}
		xrt = abs
	}
	if _, err := os.Stat(xrt); err != nil {
		t.Skipf("no xrt binary at %s: run `make build` first, or set XRT_BINARY", xrt)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("the rootfs is made from /bin/busybox (Debian's busybox-static), which is missing")
	}
	return xrt
}

// busyboxRootfs lays out a rootfs with busybox, its applets, and the
// given passwd and group files.
func busyboxRootfs(t *testing.T, dir, passwd, group string) {
	t.Helper()
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "cat", "id", "hostname", "grep", "touch", "readlink", "echo", "sleep", "tr"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{"passwd": passwd, "group": group} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runBundle generates and writes a bundle for o into dir, runs it to the
// end with xrt and returns its stdout.
func runBundle(t *testing.T, xrt, dir string, o Options) string {
	t.Helper()
	s, err := Generate(o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	t.Cleanup(func() {
		// Whatever happened, the container goes (xrt run deletes it on a
		// normal exit; this is for the others).
		exec.Command(xrt, "--root", state, "delete", "--force", o.ID).Run()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, xrt, "--root", state, "run", "--bundle", dir, o.ID)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("xrt run %s: %v\nstdout:\n%s\nstderr:\n%s", o.ID, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// report parses the "key=value" lines the test scripts print.
func report(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestRunUnderXrt(t *testing.T) {
	xrt := runPrereqs(t)
	base := t.TempDir()
	rootfs := filepath.Join(base, "rootfs")
	busyboxRootfs(t, rootfs,
		"root:x:0:0:root:/root:/bin/sh\nworker:x:1234:1234:Worker:/home/worker:/bin/sh\n",
		"root:x:0:\nworker:x:1234:\naudio:x:29:worker\nextra:x:777:\n")

	// The files the manager writes beside the bundle.
	hosts := filepath.Join(base, "hosts")
	if err := os.WriteFile(hosts, HostsFile("bundle-test", []string{"10.9.8.7"},
		[]HostEntry{{IP: "10.0.0.5", Names: []string{"peer"}}}), 0o644); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(base, "resolv.conf")
	if err := os.WriteFile(resolv, ResolvConf([]byte("nameserver 127.0.0.53\n"), nil, nil, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	roSource := filepath.Join(base, "ro-source")
	if err := os.MkdirAll(roSource, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(roSource, "hello"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	initBin := filepath.Join(base, "xmgr-init")
	build := exec.Command("go", "build", "-o", initBin, "../manager/cmd/xmgr-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building xmgr-init: %v\n%s", err, out)
	}

	id := fmt.Sprintf("bundle-test-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	script := `
echo "id=$(id)"
echo "hostname=$(hostname)"
echo "hosts=$(tr '\n\t' '| ' </etc/hosts)"
echo "resolv=$(tr '\n' '|' </etc/resolv.conf)"
echo "capeff=$(grep CapEff /proc/self/status | tr -d '\t')"
echo "pid1=$(readlink /proc/1/exe)"
echo "ppid=$PPID"
echo "hello=$(cat /data/hello)"
touch /data/new 2>/dev/null; echo "data-write=$?"
touch /newfile 2>/dev/null; echo "root-write=$?"
touch /scratch/file 2>/dev/null; echo "scratch-write=$?"
echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
echo "home=$HOME"
`
	o := Options{
		ID:             id,
		Rootfs:         rootfs,
		Image:          ocispec.ImageConfig{Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"exit 9"}, User: "root"},
		Cmd:            []string{script},
		User:           "worker",
		GroupAdd:       []string{"extra"},
		Hostname:       "bundle-test",
		Mounts:         []Mount{{Type: "tmpfs", Destination: "/scratch", Options: []string{"size=1m"}}, {Type: "bind", Source: roSource, Destination: "/data", ReadOnly: true}},
		ReadOnlyRootfs: true,
		Memory:         64 << 20,
		HostsPath:      hosts,
		ResolvConfPath: resolv,
		CgroupsPath:    "/" + id,
		Init:           true,
		InitPath:       initBin,
	}
	bundleDir := filepath.Join(base, "bundle")
	if err := os.MkdirAll(bundleDir, 0o700); err != nil {
		t.Fatal(err)
	}
	got := report(runBundle(t, xrt, bundleDir, o))

	want := map[string]string{
		"id":            "uid=1234(worker) gid=1234(worker) groups=29(audio),777(extra),1234(worker)", // the primary group is not repeated, as with Docker
		"hostname":      "bundle-test",
		"hosts":         strings.NewReplacer("\n", "|", "\t", " ").Replace(string(HostsFile("bundle-test", []string{"10.9.8.7"}, []HostEntry{{IP: "10.0.0.5", Names: []string{"peer"}}}))),
		"resolv":        "nameserver 8.8.8.8|nameserver 8.8.4.4|",
		"capeff":        "CapEff:0000000000000000", // a non-root user after exec, as with Docker
		"pid1":          "/dev/init",
		"ppid":          "1",
		"hello":         "from the host",
		"data-write":    "1",
		"root-write":    "1",
		"scratch-write": "0",
		"memory":        fmt.Sprint(64 << 20),
		"home":          "/home/worker",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}

	// As root the capability set is Docker's, changed by cap-add and
	// cap-drop: CapEff shows exactly that set.
	o2 := Options{
		ID:      id + "-root",
		Rootfs:  rootfs,
		Image:   ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", `echo "capeff=$(grep CapEff /proc/self/status | tr -d '\t')"; echo "id=$(id -u)"`}},
		CapAdd:  []string{"sys_admin"},
		CapDrop: []string{"CAP_NET_RAW", "mknod"},
	}
	bundle2 := filepath.Join(base, "bundle2")
	if err := os.MkdirAll(bundle2, 0o700); err != nil {
		t.Fatal(err)
	}
	got = report(runBundle(t, xrt, bundle2, o2))
	var mask uint64
	caps, _ := capabilities(o2.CapAdd, o2.CapDrop, false)
	for _, c := range caps {
		mask |= 1 << specs.Capabilities[c]
	}
	if want := fmt.Sprintf("CapEff:%016x", mask); got["capeff"] != want || got["id"] != "0" {
		t.Errorf("root with cap-add/drop: capeff %q (want %q), uid %q", got["capeff"], want, got["id"])
	}

	// Privileged: every capability, the host's devices, a writable /sys.
	o3 := Options{
		ID:         id + "-priv",
		Rootfs:     rootfs,
		Privileged: true,
		Image: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", `echo "capeff=$(grep CapEff /proc/self/status | tr -d '\t')"
echo "sys=$(grep ' /sys sysfs ' /proc/mounts)"
test -c /dev/null && test -e /dev/zero; echo "devices=$?"`}},
	}
	bundle3 := filepath.Join(base, "bundle3")
	if err := os.MkdirAll(bundle3, 0o700); err != nil {
		t.Fatal(err)
	}
	got = report(runBundle(t, xrt, bundle3, o3))
	mask = 0
	for _, c := range allCapabilities() {
		mask |= 1 << specs.Capabilities[c]
	}
	if want := fmt.Sprintf("CapEff:%016x", mask); got["capeff"] != want {
		t.Errorf("privileged: capeff %q, want %q", got["capeff"], want)
	}
	if !strings.Contains(got["sys"], " rw,") || got["devices"] != "0" {
		t.Errorf("privileged: /sys mount %q, devices test %q", got["sys"], got["devices"])
	}
}
