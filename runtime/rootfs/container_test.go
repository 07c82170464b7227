package rootfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The environment of the re-executed test binary: the test's directory, the
// variant to run, and the stage ("host" or "container").
const (
	childDirEnv     = "XRT_ROOTFS_TEST_DIR"
	childVariantEnv = "XRT_ROOTFS_TEST_VARIANT"
	childStageEnv   = "XRT_ROOTFS_TEST_STAGE"
)

type variant struct {
	name        string
	noPivot     bool
	userns      bool   // a user namespace mapping root to root, without a network or IPC namespace
	propagation string // linux.rootfsPropagation
	sharedHost  bool   // run in a mount namespace whose / is rshared, as systemd makes a host's
}

var variants = []variant{
	{name: "pivot_root", propagation: "rprivate"},
	{name: "no-pivot", noPivot: true},
	{name: "user namespace", userns: true},
	{name: "shared host", sharedHost: true},
	{name: "rshared rootfs on a shared host", sharedHost: true, propagation: "rshared"},
}

// TestContainer really builds a busybox rootfs: it re-executes the test
// binary in new mount and pid namespaces, which runs Prepare, Pivot and
// Finish and checks the result from inside; then it checks that the host's
// mount table did not change. For a shared host, a first re-execution in a
// new mount namespace makes its / rshared and plays the host.
func TestContainer(t *testing.T) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		v, ok := variantNamed(os.Getenv(childVariantEnv))
		if !ok {
			t.Fatalf("unknown variant %q", os.Getenv(childVariantEnv))
		}
		if os.Getenv(childStageEnv) == "host" {
			if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
				t.Fatalf("make / rshared: %v", err)
			}
			runStage(t, dir, v, "container")
			return
		}
		containerChild(t, dir, v)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts, mknod and pivot_root in new mount and pid namespaces")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (Debian busybox-static)")
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			busyboxRootfs(t, dir)
			stage := "container"
			if v.sharedHost {
				stage = "host"
			}
			runStage(t, dir, v, stage)
		})
	}
}

func variantNamed(name string) (variant, bool) {
	for _, v := range variants {
		if v.name == name {
			return v, true
		}
	}
	return variant{}, false
}

// runStage re-executes the test binary for stage and checks that this
// process's mount table is the same afterwards.
func runStage(t *testing.T, dir string, v variant, stage string) {
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestContainer$", "-test.v")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childVariantEnv+"="+v.name, childStageEnv+"="+stage)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	if stage == "container" {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWPID
	}
	if stage == "container" && v.userns {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestContainer")) {
		t.Fatalf("%s stage: %v\n%s", stage, err, out)
	}
	after, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the mount table outside the %s changed:\nbefore:\n%s\nafter:\n%s", stage, before, after)
	}
}

// busyboxRootfs makes dir/rootfs from /bin/busybox, with files the checks
// use, and dir/data, dir/hostname to bind into it.
func busyboxRootfs(t *testing.T, dir string) {
	root := dir + "/rootfs"
	mkdirs(t, root+"/bin", root+"/etc", root+"/masked-dir", root+"/ro-dir", dir+"/data")
	src, err := os.Open("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(root+"/bin/busybox", os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sh", "cat", "ls"} {
		if err := os.Symlink("busybox", root+"/bin/"+name); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, root+"/etc/secret", "secret")
	writeFile(t, root+"/masked-dir/file", "hidden")
	writeFile(t, dir+"/data/file", "data")
	writeFile(t, dir+"/hostname", "xrt-test\n")
}

func containerSpec(dir string, v variant) *rspec.Spec {
	nosuid := []string{"nosuid", "noexec", "nodev"}
	mode := os.FileMode(0o600)
	id := uint32(1000)
	spec := &rspec.Spec{
		Root:    &rspec.Root{Path: dir + "/rootfs", Readonly: true},
		Process: &rspec.Process{Cwd: "/work/dir"},
		Mounts: []rspec.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: nosuid},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: append(nosuid, "mode=1777", "size=65536k")},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: nosuid},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: append(nosuid, "ro")},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: append(nosuid, "relatime", "ro")},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
			{Destination: "/data", Type: "bind", Source: dir + "/data", Options: []string{"rbind", "ro"}},
			{Destination: "/etc/hostname", Type: "bind", Source: dir + "/hostname", Options: []string{"bind", "ro"}},
		},
		Linux: &rspec.Linux{
			Namespaces: []rspec.LinuxNamespace{{Type: rspec.MountNamespace}, {Type: rspec.PIDNamespace}},
			Devices: []rspec.LinuxDevice{
				{Path: "/dev/xrt-null", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &id, GID: &id},
			},
			MaskedPaths:       []string{"/proc/kcore", "/etc/secret", "/masked-dir", "/does-not-exist"},
			ReadonlyPaths:     []string{"/proc/sys", "/ro-dir", "/does-not-exist"},
			RootfsPropagation: v.propagation,
		},
	}
	if v.userns {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
		// Devices are bound from the host: only ones the host has.
		spec.Linux.Devices = nil
		// mqueue belongs to the host's IPC namespace, and this host has no
		// /dev/mqueue to fall back to.
		for i, m := range spec.Mounts {
			if m.Type == "mqueue" {
				spec.Mounts = append(spec.Mounts[:i], spec.Mounts[i+1:]...)
				break
			}
		}
	}
	return spec
}

// containerChild runs as pid 1 of the new namespaces.
func containerChild(t *testing.T, dir string, v variant) {
	spec := containerSpec(dir, v)
	hooked := false
	o := Options{
		Spec: spec, Rootfs: spec.Root.Path, NoPivot: v.noPivot,
		BeforePivot: func() error {
			// Still on the host's root, with everything mounted in the rootfs.
			_, err := os.Stat(spec.Root.Path + "/proc/self/status")
			hooked = err == nil
			return err
		},
	}
	if err := Prepare(o); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := Pivot(o); err != nil {
		t.Fatalf("Pivot: %v", err)
	}
	if err := Finish(o); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if !hooked {
		t.Error("BeforePivot did not run before the pivot")
	}

	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the host's %s is visible: %v", dir, err)
	}
	if self, err := os.Readlink("/proc/self"); err != nil || self != "1" {
		t.Errorf("/proc is not the container's: /proc/self is %q (%v)", self, err)
	}
	readOnly := func(path string) {
		t.Helper()
		err := os.WriteFile(path, []byte("x"), 0o644)
		if !errors.Is(err, unix.EROFS) {
			t.Errorf("write %s: %v, want EROFS", path, err)
		}
	}
	content := func(path, want string) {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s holds %q (%v), want %q", path, got, err, want)
		}
	}
	readOnly("/newfile")         // root.readonly
	readOnly("/data/new")        // read-only bind of a directory
	readOnly("/etc/hostname")    // read-only bind of a file
	readOnly("/ro-dir/new")      // readonlyPaths
	readOnly("/masked-dir/new")  // maskedPaths (directory)
	readOnly("/sys/fs/cgroup/x") // the cgroup tmpfs
	readOnly("/proc/sys/kernel/hostname")
	content("/data/file", "data")
	content("/etc/hostname", "xrt-test\n")
	content("/etc/secret", "")
	if _, err := os.Stat("/masked-dir/file"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/masked-dir/file: %v, want it hidden", err)
	}
	if fi, err := os.Stat("/work/dir"); err != nil || !fi.IsDir() {
		t.Errorf("process.cwd /work/dir: %v", err)
	}
	if err := os.WriteFile("/tmp/x", []byte("x"), 0o644); err != nil {
		t.Errorf("tmpfs /tmp: %v", err)
	}
	if ents, err := os.ReadDir("/sys/fs/cgroup"); err != nil || len(ents) == 0 {
		t.Errorf("/sys/fs/cgroup is empty (%v)", err)
	}

	var st unix.Stat_t
	if err := unix.Stat("/dev/null", &st); err != nil || st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("/dev/null: mode %o rdev %#x (%v)", st.Mode, st.Rdev, err)
	}
	if err := unix.Stat("/dev/xrt-null", &st); !v.userns && (err != nil || st.Mode != unix.S_IFCHR|0o600 || st.Uid != 1000 || st.Gid != 1000) {
		t.Errorf("/dev/xrt-null: mode %o owner %d:%d (%v)", st.Mode, st.Uid, st.Gid, err)
	}
	for link, want := range map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx"} {
		if got, err := os.Readlink(link); got != want {
			t.Errorf("%s links to %q (%v), want %q", link, got, err, want)
		}
	}
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Errorf("/dev/ptmx does not lead to the devpts: %v", err)
	}

	// / has the propagation asked for.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 6 && f[4] == "/" {
			if shared := strings.Contains(l, " shared:"); shared != (spec.Linux.RootfsPropagation == "rshared") {
				t.Errorf("/ with rootfsPropagation %s: %s", spec.Linux.RootfsPropagation, l)
			}
		}
	}

	// The container's own busybox runs: this is the rootfs, and it works.
	out, err := exec.Command("/bin/sh", "-c", "ls / && cat /data/file").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "masked-dir") || !strings.HasSuffix(string(out), "data") {
		t.Errorf("busybox in the container: %v\n%s", err, out)
	}
}
