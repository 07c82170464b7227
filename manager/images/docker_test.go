package images

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// startDockerd runs Debian's dockerd (Docker 20.10) on private directories
// and socket, without networking, for the life of the test.
func startDockerd(t *testing.T) (docker func(args ...string) string) {
	t.Helper()
	dockerd := needTool(t, "dockerd")
	cli := needTool(t, "docker")
	dir, err := os.MkdirTemp("", "m2-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerd, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "docker.pid"), "--bridge=none", "--iptables=false",
		"--ip6tables=false", "--ip-masq=false", "--containerd-namespace", "m2test", "--containerd-plugins-namespace", "m2test-plugins")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		exec.Command("umount", "-R", filepath.Join(dir, "data")).Run()
		os.RemoveAll(dir)
	})
	docker = func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"-H", "unix://" + sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for i := 0; ; i++ {
		if exec.Command(cli, "-H", "unix://"+sock, "version").Run() == nil {
			break
		}
		if i == 120 {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dockerd did not answer:\n%s", b)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return docker
}

// TestInteropDocker exchanges archives with a real Docker 20.10: what we
// save, docker loads with the same IDs; what docker saves (its own
// import and our images), we load with the same IDs and names.
func TestInteropDocker(t *testing.T) {
	e := newEnv(t)
	docker := startDockerd(t)
	a, b := twoImages(e)
	dir := t.TempDir()

	for _, format := range []SaveFormat{SaveDocker, SaveOCI} {
		var buf bytes.Buffer
		if err := e.s.Save(context.Background(), &buf, []string{"app:1", "localhost:5000/other:2"}, format); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "ours-"+strconv.Itoa(int(format))+".tar")
		os.WriteFile(p, buf.Bytes(), 0o644)
		out := docker("load", "-i", p)
		if !strings.Contains(out, "Loaded image: app:1") || !strings.Contains(out, "Loaded image: localhost:5000/other:2") {
			t.Errorf("docker load of format %d: %s", format, out)
		}
		if id := docker("image", "inspect", "--format", "{{.Id}}", "app:1"); id != a.ID.String() {
			t.Errorf("docker's app:1 is %s, want %s", id, a.ID)
		}
		if id := docker("image", "inspect", "--format", "{{.Id}}", "localhost:5000/other:2"); id != b.ID.String() {
			t.Errorf("docker's other:2 is %s, want %s", id, b.ID)
		}
		docker("rmi", "app:1", "localhost:5000/other:2")
	}

	// Docker's own image, made by docker import, plus ours, saved by
	// docker save, load here.
	rootfs := filepath.Join(dir, "rootfs.tar")
	os.WriteFile(rootfs, layerTar(t, tfile{name: "etc/", typ: '5'}, tfile{name: "etc/hostname", body: "docker\n"}), 0o644)
	nativeID := docker("import", "--change", `CMD ["/bin/true"]`, "--change", "ENV X=1", rootfs, "native:1")
	var buf bytes.Buffer
	e.s.Save(context.Background(), &buf, []string{"app:1"}, SaveDocker)
	p := filepath.Join(dir, "again.tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	docker("load", "-i", p)
	saved := filepath.Join(dir, "docker-saved.tar")
	docker("save", "-o", saved, "native:1", "app:1")
	removeAll(t, e)
	f, err := os.Open(saved)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	loaded, err := e.s.Load(context.Background(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(loaded, "native:1") || !contains(loaded, "app:1") {
		t.Errorf("loaded %q from docker save", loaded)
	}
	native, err := e.s.Resolve("native:1")
	if err != nil {
		t.Fatal(err)
	}
	if native.ID.String() != nativeID || !reflect.DeepEqual(native.Config.Config.Cmd, []string{"/bin/true"}) || native.Comment != "Imported from -" {
		t.Errorf("native:1 = %s cmd %q comment %q, want %s", native.ID, native.Config.Config.Cmd, native.Comment, nativeID)
	}
	if got := e.readFile(native, "etc/hostname"); got != "docker\n" {
		t.Errorf("etc/hostname = %q", got)
	}
	app, err := e.s.Resolve("app:1")
	if err != nil || app.ID != a.ID {
		t.Fatalf("app:1 = %v, %v", app, err)
	}
	if got := e.readFile(app, "etc/motd"); got != "hello\n" {
		t.Errorf("etc/motd = %q", got)
	}
	// Our import, as Docker shows its history.
	ours, err := e.s.Import(context.Background(), bytes.NewReader(layerTar(t, tfile{name: "x", body: "y"})), "ours:1", dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", "/x"}}}, "", ocispec.Platform{})
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	e.s.Save(context.Background(), &buf, []string{"ours:1"}, SaveDocker)
	os.WriteFile(p, buf.Bytes(), 0o644)
	docker("load", "-i", p)
	if got := docker("history", "--format", "{{.Comment}}", "ours:1"); got != "Imported from -" {
		t.Errorf("docker history of our import: %q", got)
	}
	if got := docker("image", "inspect", "--format", "{{.Id}} {{json .Config.Cmd}}", "ours:1"); got != ours.ID.String()+` ["/bin/sh","-c","/x"]` {
		t.Errorf("docker inspect of our import: %q", got)
	}
}
