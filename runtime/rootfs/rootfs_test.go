package rootfs

import (
	"errors"
	"os"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const prelude = "mount - / - MS_REC|MS_SLAVE\nmount - <root> - MS_PRIVATE\nmount <root> <root> - MS_BIND|MS_REC"

func TestPrepare(t *testing.T) {
	dockerish := []rspec.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/data", Type: "bind", Source: "<tmp>/data", Options: []string{"rbind", "ro"}},
	}
	devices := append(append([]string{"umask 0000"}, defaultMknods...), "umask 0022")
	for _, c := range []struct {
		name        string
		mounts      []rspec.Mount
		propagation string
		ns          []rspec.LinuxNamespaceType // nil: a mount namespace
		fail        map[string]error
		want        []string
		err         string
	}{
		{
			name:   "in order: propagation, rootfs bind, mounts, devices",
			mounts: dockerish,
			want: append(append(strings.Split(prelude, "\n"),
				"mount proc <root>/proc proc MS_NOSUID|MS_NODEV|MS_NOEXEC",
				"mount tmpfs <root>/dev tmpfs MS_NOSUID|MS_STRICTATIME mode=755,size=65536k",
				"mount devpts <root>/dev/pts devpts MS_NOSUID|MS_NOEXEC newinstance,ptmxmode=0666,mode=0620",
				"mount <tmp>/data <root>/data - MS_BIND|MS_REC",
				"mount - <root>/data - MS_RDONLY|MS_REMOUNT|MS_BIND",
			), devices...),
		},
		{
			name:        "rootfsPropagation replaces rslave",
			propagation: "rshared",
			want:        append([]string{"mount - / - MS_REC|MS_SHARED", "mount - <root> - MS_PRIVATE", "mount <root> <root> - MS_BIND|MS_REC"}, devices...),
		},
		{
			name: "the mount holding the rootfs is found by walking up",
			fail: map[string]error{"mount - <root> - MS_PRIVATE": unix.EINVAL},
			want: append([]string{"mount - / - MS_REC|MS_SLAVE", "mount - <root> - MS_PRIVATE", "mount - <tmp> - MS_PRIVATE", "mount <root> <root> - MS_BIND|MS_REC"}, devices...),
		},
		{
			name:   "a bind of the host's /dev brings the devices",
			mounts: []rspec.Mount{{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}}},
			want:   append(strings.Split(prelude, "\n"), "mount /dev <root>/dev - MS_BIND|MS_REC"),
		},
		{
			name:   "errors name the mount",
			mounts: dockerish,
			fail:   map[string]error{"mount <tmp>/data <root>/data - MS_BIND|MS_REC": unix.EPERM},
			want: append(strings.Split(prelude, "\n"),
				"mount proc <root>/proc proc MS_NOSUID|MS_NODEV|MS_NOEXEC",
				"mount tmpfs <root>/dev tmpfs MS_NOSUID|MS_STRICTATIME mode=755,size=65536k",
				"mount devpts <root>/dev/pts devpts MS_NOSUID|MS_NOEXEC newinstance,ptmxmode=0666,mode=0620",
				"mount <tmp>/data <root>/data - MS_BIND|MS_REC",
			),
			err: "mounts[3] /data (bind from <tmp>/data): mount: operation not permitted",
		},
		{
			name: "no mount namespace: nothing is touched",
			ns:   []rspec.LinuxNamespaceType{rspec.UserNamespace},
			err:  "linux.namespaces: no mount namespace",
		},
		{
			name:        "bad rootfsPropagation",
			propagation: "sideways",
			err:         `linux.rootfsPropagation: unknown value "sideways"`,
		},
		{
			name: "/ cannot be made a slave",
			fail: map[string]error{"mount - / - MS_REC|MS_SLAVE": unix.EPERM},
			want: []string{"mount - / - MS_REC|MS_SLAVE"},
			err:  "set propagation of /: operation not permitted",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, r := testRoot(t)
			mkdirs(t, r.tmp+"/data")
			ns := c.ns
			if ns == nil {
				ns = []rspec.LinuxNamespaceType{rspec.MountNamespace}
			}
			spec := withNamespaces(ns...)
			spec.Linux.RootfsPropagation = c.propagation
			for _, m := range c.mounts {
				m.Source = strings.ReplaceAll(m.Source, "<tmp>", r.tmp)
				spec.Mounts = append(spec.Mounts, m)
			}
			for call, err := range c.fail {
				r.fail[call] = err
			}
			err := prepare(Options{Spec: spec, Rootfs: root}, r)
			if c.err == "" && err != nil {
				t.Fatal(err)
			}
			if c.err != "" {
				if err == nil {
					t.Fatalf("no error, want %q", c.err)
				}
				if msg := strings.ReplaceAll(err.Error(), r.tmp, "<tmp>"); !strings.HasPrefix(msg, c.err) {
					t.Fatalf("error %q, want %q", msg, c.err)
				}
			}
			equalCalls(t, r.calls, c.want)
		})
	}
}

func TestPrepareRootfsPath(t *testing.T) {
	root, r := testRoot(t)
	spec := withNamespaces(rspec.MountNamespace)
	if err := prepare(Options{Spec: spec, Rootfs: "rootfs"}, r); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("relative rootfs: %v", err)
	}
	if err := prepare(Options{Spec: spec, Rootfs: root + "/missing"}, r); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing rootfs: %v", err)
	}
	// A symlink to the rootfs is resolved: mount targets are real paths.
	if err := os.Symlink(root, r.tmp+"/link"); err != nil {
		t.Fatal(err)
	}
	if err := prepare(Options{Spec: spec, Rootfs: r.tmp + "/link"}, r); err != nil {
		t.Fatal(err)
	}
	if r.calls[2] != "mount <root> <root> - MS_BIND|MS_REC" {
		t.Errorf("rootfs bind through a symlink: %s", r.calls[2])
	}
}

func TestPivot(t *testing.T) {
	hookErr := errors.New("hook failed")
	for _, c := range []struct {
		name    string
		noPivot bool
		hookErr error
		want    []string
	}{
		{name: "hooks, then pivot_root", want: []string{"hook", "pivot_root /bundle/rootfs"}},
		{name: "no-pivot moves and chroots", noPivot: true, want: []string{"hook", "move_root /bundle/rootfs"}},
		{name: "a failing hook stops it", hookErr: hookErr, want: []string{"hook"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{}
			o := Options{
				Spec: withNamespaces(rspec.MountNamespace), Rootfs: "/bundle/rootfs", NoPivot: c.noPivot,
				BeforePivot: func() error { r.calls = append(r.calls, "hook"); return c.hookErr },
			}
			if err := pivot(o, r); !errors.Is(err, c.hookErr) {
				t.Errorf("error %v, want %v", err, c.hookErr)
			}
			equalCalls(t, r.calls, c.want)
		})
	}
	r := &recorder{}
	if err := pivot(Options{Rootfs: "/r"}, r); err != nil || len(r.calls) != 1 {
		t.Errorf("without a hook: %v, %q", err, r.calls)
	}
}

func TestFinish(t *testing.T) {
	const context = `context="system_u:object_r:container_file_t:s0"`
	full := func() *rspec.Spec {
		spec := withNamespaces(rspec.MountNamespace)
		spec.Root.Readonly = true
		spec.Mounts = []rspec.Mount{{Destination: "/dev", Type: "tmpfs", Options: []string{"nosuid", "strictatime", "ro"}}}
		spec.Linux.ReadonlyPaths = []string{"/proc/sys", "/proc/missing"}
		spec.Linux.MaskedPaths = []string{"/proc/kcore", "/proc/acpi", "/proc/gone"}
		spec.Linux.RootfsPropagation = "rslave"
		spec.Linux.MountLabel = "system_u:object_r:container_file_t:s0"
		spec.Process = &rspec.Process{Cwd: "/work"}
		return spec
	}
	statfs := map[string]unix.Statfs_t{
		"/proc/sys": {Flags: unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_RELATIME},
		"/":         {Flags: unix.ST_NOSUID | unix.ST_RELATIME},
	}
	// missing is how the kernel answers for paths that are not there or
	// are directories, plus the failure a case adds.
	missing := func(call string, err error) map[string]error {
		f := map[string]error{
			"mount /proc/missing /proc/missing - MS_BIND|MS_REC": unix.ENOENT,
			"mount /dev/null /proc/acpi - MS_BIND":               unix.ENOTDIR,
			"mount /dev/null /proc/gone - MS_BIND":               unix.ENOENT,
		}
		if call != "" {
			f[call] = err
		}
		return f
	}
	for _, c := range []struct {
		name string
		spec *rspec.Spec
		fail map[string]error
		want []string
		err  string
	}{
		{
			name: "readonly, masked, /dev, root, propagation",
			spec: full(),
			fail: missing("", nil),
			want: []string{
				"mkdir -p /work 0755",
				"mount /proc/sys /proc/sys - MS_BIND|MS_REC",
				"mount - /proc/sys - MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND|MS_RELATIME",
				"mount /proc/missing /proc/missing - MS_BIND|MS_REC",
				"mount /dev/null /proc/kcore - MS_BIND",
				"mount /dev/null /proc/acpi - MS_BIND",
				"mount tmpfs /proc/acpi tmpfs MS_RDONLY " + context,
				"mount /dev/null /proc/gone - MS_BIND",
				"mount - /dev - MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND|MS_STRICTATIME",
				"mount - / - MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND|MS_RELATIME",
				"mount - / - MS_REC|MS_SLAVE",
			},
		},
		{
			name: "nothing asked, nothing done",
			spec: withNamespaces(rspec.MountNamespace),
		},
		{
			name: "no working directory",
			spec: full(),
			fail: map[string]error{"mkdir -p /work 0755": unix.EROFS},
			err:  "process.cwd: read-only file system",
		},
		{
			name: "a masked path that cannot be covered",
			spec: full(),
			fail: missing("mount /dev/null /proc/kcore - MS_BIND", unix.EACCES),
			err:  "linux.maskedPaths /proc/kcore: bind /dev/null: permission denied",
		},
		{
			name: "a readonly path that cannot be remounted",
			spec: full(),
			fail: missing("mount - /proc/sys - MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND|MS_RELATIME", unix.EPERM),
			err:  "linux.readonlyPaths /proc/sys: remount read-only: operation not permitted",
		},
		{
			name: "the root cannot be made read-only",
			spec: full(),
			fail: missing("mount - / - MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND|MS_RELATIME", unix.EPERM),
			err:  "root.readonly: remount / read-only: operation not permitted",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{fail: c.fail, statfs: statfs}
			err := finish(Options{Spec: c.spec, Rootfs: "/bundle/rootfs"}, r)
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				equalCalls(t, r.calls, c.want)
				return
			}
			if err == nil || err.Error() != c.err {
				t.Fatalf("error %v, want %q", err, c.err)
			}
		})
	}
}
