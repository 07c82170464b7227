package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type mountCase struct {
	name  string
	spec  *rspec.Spec // nil: only a mount namespace
	m     rspec.Mount // "<tmp>" in Source is the test's directory
	setup func(t *testing.T, root string, r *recorder)
	want  []string // the privileged calls, in order
	err   string   // part of the error; "" for success
	check func(t *testing.T, root string)
}

func runMountCase(t *testing.T, c mountCase) {
	root, r := testRoot(t)
	spec := c.spec
	if spec == nil {
		spec = withNamespaces(rspec.MountNamespace)
	}
	if c.setup != nil {
		c.setup(t, root, r)
	}
	m := c.m
	m.Source = strings.ReplaceAll(m.Source, "<tmp>", r.tmp)
	s := testSetup(root, r, spec)
	s.bundle = r.tmp
	err := s.mount(&m)
	if c.err == "" && err != nil {
		t.Fatalf("mount: %v", err)
	}
	if c.err != "" {
		if err == nil {
			t.Fatalf("mount succeeded, want an error with %q", c.err)
		}
		if msg := strings.ReplaceAll(err.Error(), r.tmp, "<tmp>"); !strings.Contains(msg, c.err) {
			t.Fatalf("error %q, want it to contain %q", msg, c.err)
		}
	}
	equalCalls(t, r.calls, c.want)
	if c.check != nil {
		c.check(t, root)
	}
}

func isDir(t *testing.T, path string) {
	t.Helper()
	if fi, err := os.Lstat(path); err != nil || !fi.IsDir() {
		t.Errorf("%s is not a directory (%v)", path, err)
	}
}

func isFile(t *testing.T, path string) {
	t.Helper()
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s is not a regular file (%v)", path, err)
	}
}

func TestMount(t *testing.T) {
	labeled := withNamespaces(rspec.MountNamespace)
	labeled.Linux.MountLabel = "system_u:object_r:container_file_t:s0:c1,c2"
	userNoNet := withNamespaces(rspec.MountNamespace, rspec.UserNamespace)
	userNet := withNamespaces(rspec.MountNamespace, rspec.UserNamespace, rspec.NetworkNamespace)
	file := func(name string) func(*testing.T, string, *recorder) {
		return func(t *testing.T, _ string, r *recorder) { writeFile(t, filepath.Join(r.tmp, name), "x") }
	}
	dir := func(name string) func(*testing.T, string, *recorder) {
		return func(t *testing.T, _ string, r *recorder) { mkdirs(t, filepath.Join(r.tmp, name)) }
	}
	fail := func(call string, err error, then func(*testing.T, string, *recorder)) func(*testing.T, string, *recorder) {
		return func(t *testing.T, root string, r *recorder) {
			r.fail[call] = err
			if then != nil {
				then(t, root, r)
			}
		}
	}

	for _, c := range []mountCase{
		{
			name:  "proc",
			m:     rspec.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			want:  []string{"mount proc <root>/proc proc MS_NOSUID|MS_NODEV|MS_NOEXEC"},
			check: func(t *testing.T, root string) { isDir(t, root+"/proc") },
		},
		{
			name: "tmpfs gets its data and the mount label",
			spec: labeled,
			m:    rspec.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			want: []string{`mount shm <root>/dev/shm tmpfs MS_NOSUID|MS_NODEV|MS_NOEXEC mode=1777,size=65536k,context="system_u:object_r:container_file_t:s0:c1,c2"`},
		},
		{
			name: "a read-only /dev is mounted writable for the devices",
			m:    rspec.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k", "ro"}},
			want: []string{"mount tmpfs <root>/dev tmpfs MS_NOSUID|MS_STRICTATIME mode=755,size=65536k"},
		},
		{
			name: "devpts",
			m:    rspec.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			want: []string{"mount devpts <root>/dev/pts devpts MS_NOSUID|MS_NOEXEC newinstance,ptmxmode=0666,mode=0620,gid=5"},
		},
		{
			name: "no source: the type stands in",
			m:    rspec.Mount{Destination: "/run", Type: "tmpfs"},
			want: []string{"mount tmpfs <root>/run tmpfs 0"},
		},
		{
			name: "unknown type and options go to mount(2) as they are",
			m:    rspec.Mount{Destination: "/mnt", Type: "overlay", Source: "overlay", Options: []string{"ro", "lowerdir=/l", "upperdir=/u", "workdir=/w"}},
			want: []string{"mount overlay <root>/mnt overlay MS_RDONLY lowerdir=/l,upperdir=/u,workdir=/w"},
		},
		{
			name: "propagation takes its own calls",
			m:    rspec.Mount{Destination: "/shared", Type: "tmpfs", Source: "tmpfs", Options: []string{"rshared", "unbindable"}},
			want: []string{
				"mount tmpfs <root>/shared tmpfs 0",
				"mount - <root>/shared - MS_REC|MS_SHARED",
				"mount - <root>/shared - MS_UNBINDABLE",
			},
		},
		{
			name:  "read-only bind of a file: empty file as mount point, then a remount",
			setup: file("hosts"),
			m:     rspec.Mount{Destination: "/etc/hosts", Type: "bind", Source: "<tmp>/hosts", Options: []string{"rbind", "ro", "nosuid"}},
			want: []string{
				"mount <tmp>/hosts <root>/etc/hosts - MS_BIND|MS_REC",
				"mount - <root>/etc/hosts - MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND",
			},
			check: func(t *testing.T, root string) { isFile(t, root+"/etc/hosts") },
		},
		{
			name:  "rbind with only propagation: no remount",
			setup: dir("data"),
			m:     rspec.Mount{Destination: "/data", Type: "none", Source: "<tmp>/data", Options: []string{"rbind", "rprivate"}},
			want: []string{
				"mount <tmp>/data <root>/data - MS_BIND|MS_REC",
				"mount - <root>/data - MS_REC|MS_PRIVATE",
			},
			check: func(t *testing.T, root string) { isDir(t, root+"/data") },
		},
		{
			name:  "a relative bind source is relative to the bundle",
			setup: dir("data"),
			m:     rspec.Mount{Destination: "/data", Source: "data", Options: []string{"bind"}},
			want:  []string{"mount <tmp>/data <root>/data - MS_BIND"},
		},
		{
			name: "remount refused in a user namespace: retried keeping the locked flags",
			setup: fail("mount - <root>/data - MS_RDONLY|MS_REMOUNT|MS_BIND", unix.EPERM, func(t *testing.T, root string, r *recorder) {
				mkdirs(t, filepath.Join(r.tmp, "data"))
				r.statfs[root+"/data"] = unix.Statfs_t{Flags: unix.ST_NOSUID | unix.ST_NODEV | unix.ST_RELATIME}
			}),
			m: rspec.Mount{Destination: "/data", Type: "bind", Source: "<tmp>/data", Options: []string{"rbind", "ro"}},
			want: []string{
				"mount <tmp>/data <root>/data - MS_BIND|MS_REC",
				"mount - <root>/data - MS_RDONLY|MS_REMOUNT|MS_BIND",
				"mount - <root>/data - MS_RDONLY|MS_NOSUID|MS_NODEV|MS_REMOUNT|MS_BIND|MS_RELATIME",
			},
		},
		{
			name:  "recursive read-only through mount_setattr",
			setup: dir("data"),
			m:     rspec.Mount{Destination: "/data", Type: "bind", Source: "<tmp>/data", Options: []string{"rbind", "rro"}},
			want: []string{
				"mount <tmp>/data <root>/data - MS_BIND|MS_REC",
				"mount_setattr <root>/data set=0x1 clr=0x0 recursive",
			},
		},
		{
			name:  "recursive atime needs the whole atime field cleared",
			setup: dir("data"),
			m:     rspec.Mount{Destination: "/data", Type: "bind", Source: "<tmp>/data", Options: []string{"rbind", "rnoatime", "rnosuid"}},
			want: []string{
				"mount <tmp>/data <root>/data - MS_BIND|MS_REC",
				"mount_setattr <root>/data set=0x12 clr=0x70 recursive",
			},
		},
		{
			name: "sysfs",
			m:    rspec.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			want: []string{"mount sysfs <root>/sys sysfs MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC"},
		},
		{
			name: "sysfs in user and network namespaces is mounted",
			spec: userNet,
			m:    rspec.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro"}},
			want: []string{"mount sysfs <root>/sys sysfs MS_RDONLY"},
		},
		{
			name:  "sysfs in a user namespace without a network namespace: the host's /sys, recursively read-only",
			spec:  userNoNet,
			setup: dir("sys"),
			m:     rspec.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			want: []string{
				"mount <tmp>/sys <root>/sys - MS_BIND|MS_REC",
				"mount - <root>/sys - MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
				"mount_setattr <root>/sys set=0x1 clr=0x0 recursive",
			},
		},
		{
			name:  "sysfs refused: the host's /sys instead",
			setup: fail("mount sysfs <root>/sys sysfs MS_NOSUID", unix.EPERM, dir("sys")),
			m:     rspec.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid"}},
			want: []string{
				"mount sysfs <root>/sys sysfs MS_NOSUID",
				"mount <tmp>/sys <root>/sys - MS_BIND|MS_REC",
				"mount - <root>/sys - MS_NOSUID|MS_REMOUNT|MS_BIND",
			},
		},
		{
			name: "mqueue",
			m:    rspec.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			want: []string{"mount mqueue <root>/dev/mqueue mqueue MS_NOSUID|MS_NODEV|MS_NOEXEC"},
		},
		{
			name:  "mqueue refused: the host's /dev/mqueue instead",
			setup: fail("mount mqueue <root>/dev/mqueue mqueue MS_NOSUID", unix.EPERM, dir("mqueue")),
			m:     rspec.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid"}},
			want: []string{
				"mount mqueue <root>/dev/mqueue mqueue MS_NOSUID",
				"mount <tmp>/mqueue <root>/dev/mqueue - MS_BIND",
				"mount - <root>/dev/mqueue - MS_NOSUID|MS_REMOUNT|MS_BIND",
			},
		},
		{
			name:  "mqueue refused and no host mqueue: both errors",
			setup: fail("mount mqueue <root>/dev/mqueue mqueue 0", unix.EPERM, nil),
			m:     rspec.Mount{Destination: "/dev/mqueue", Type: "mqueue"},
			want:  []string{"mount mqueue <root>/dev/mqueue mqueue 0"},
			err:   "mount: operation not permitted; bind of <tmp>/mqueue instead: stat <tmp>/mqueue: no such file or directory",
		},
		{
			name: "an absolute symlink in the rootfs is followed inside it",
			setup: func(t *testing.T, root string, _ *recorder) {
				mkdirs(t, root+"/etc")
				if err := os.Symlink("/../../../etc", root+"/evil"); err != nil {
					t.Fatal(err)
				}
			},
			m:    rspec.Mount{Destination: "/evil/x", Type: "tmpfs"},
			want: []string{"mount tmpfs <root>/etc/x tmpfs 0"},
		},
		{
			name: "a relative symlink climbing out stops at the rootfs",
			setup: func(t *testing.T, root string, _ *recorder) {
				if err := os.Symlink("../../../../..", root+"/up"); err != nil {
					t.Fatal(err)
				}
			},
			m:     rspec.Mount{Destination: "/up/x", Type: "tmpfs"},
			want:  []string{"mount tmpfs <root>/x tmpfs 0"},
			check: func(t *testing.T, root string) { isDir(t, root+"/x") },
		},
		{
			name: "only procfs at /proc",
			m:    rspec.Mount{Destination: "/proc", Type: "tmpfs"},
			err:  "only procfs may be mounted at /proc",
		},
		{
			name: "a bind of a procfs at /proc is procfs",
			setup: func(t *testing.T, _ string, r *recorder) {
				mkdirs(t, r.tmp+"/hostproc")
				r.statfs[r.tmp+"/hostproc"] = unix.Statfs_t{Type: unix.PROC_SUPER_MAGIC}
			},
			m:    rspec.Mount{Destination: "/proc", Source: "<tmp>/hostproc", Options: []string{"rbind"}},
			want: []string{"mount <tmp>/hostproc <root>/proc - MS_BIND|MS_REC"},
		},
		{
			name:  "lxcfs files may cover /proc files",
			setup: file("cpuinfo"),
			m:     rspec.Mount{Destination: "/proc/cpuinfo", Type: "bind", Source: "<tmp>/cpuinfo", Options: []string{"bind"}},
			want:  []string{"mount <tmp>/cpuinfo <root>/proc/cpuinfo - MS_BIND"},
		},
		{
			name:  "nothing else inside /proc",
			setup: dir("data"),
			m:     rspec.Mount{Destination: "/proc/sys", Source: "<tmp>/data", Options: []string{"bind"}},
			err:   "destination resolves to /proc/sys, inside /proc",
		},
		{
			name: "a symlink leading into /proc is refused",
			setup: func(t *testing.T, root string, r *recorder) {
				mkdirs(t, r.tmp+"/data", root+"/etc")
				if err := os.Symlink("/proc/sys", root+"/etc/sysctl"); err != nil {
					t.Fatal(err)
				}
			},
			m:   rspec.Mount{Destination: "/etc/sysctl/net", Source: "<tmp>/data", Options: []string{"bind"}},
			err: "destination resolves to /proc/sys/net, inside /proc",
		},
		{
			name: "idmapped mounts are refused",
			m:    rspec.Mount{Destination: "/data", Source: "/data", Options: []string{"bind", "idmap"}},
			err:  "idmapped mounts are not supported",
		},
		{
			name: "tmpcopyup is refused",
			m:    rspec.Mount{Destination: "/etc", Type: "tmpfs", Options: []string{"tmpcopyup"}},
			err:  "tmpcopyup is not supported",
		},
		{
			name: "missing bind source",
			m:    rspec.Mount{Destination: "/data", Source: "<tmp>/nothing", Options: []string{"bind"}},
			err:  "stat <tmp>/nothing: no such file or directory",
		},
		{
			name: "no mount over the rootfs itself",
			m:    rspec.Mount{Destination: "/", Type: "tmpfs"},
			err:  "destination is the root of the rootfs",
		},
		{
			name: "procfs cannot go onto a file",
			setup: func(t *testing.T, root string, _ *recorder) {
				writeFile(t, root+"/proc", "")
			},
			m:   rspec.Mount{Destination: "/proc", Type: "proc"},
			err: "not a directory",
		},
	} {
		t.Run(c.name, func(t *testing.T) { runMountCase(t, c) })
	}
}
