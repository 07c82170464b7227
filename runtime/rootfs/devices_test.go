package rootfs

import (
	"os"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func u32(v uint32) *uint32 { return &v }

func mode(m os.FileMode) *os.FileMode { return &m }

var defaultMknods = []string{
	"mknod <root>/dev/null c 0666 1:3",
	"mknod <root>/dev/zero c 0666 1:5",
	"mknod <root>/dev/full c 0666 1:7",
	"mknod <root>/dev/random c 0666 1:8",
	"mknod <root>/dev/urandom c 0666 1:9",
	"mknod <root>/dev/tty c 0666 5:0",
}

func TestDevices(t *testing.T) {
	fuse := rspec.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: mode(0o600), UID: u32(1000), GID: u32(100)}
	for _, c := range []struct {
		name    string
		ns      []rspec.LinuxNamespaceType
		devices []rspec.LinuxDevice
		fail    map[string]error
		host    []string // host devices (under <tmp>) the binds come from
		want    []string
		err     string
	}{
		{
			name: "defaults, with umask 0",
			want: append(append([]string{"umask 0000"}, defaultMknods...), "umask 0022"),
		},
		{
			name:    "linux.devices first, with owner; ptmx left to the link",
			devices: []rspec.LinuxDevice{fuse, {Path: "/dev/ptmx", Type: "c", Major: 5, Minor: 2}, {Path: "/dev/sda", Type: "b", Major: 8, FileMode: mode(0o660)}, {Path: "/dev/fifo", Type: "p"}},
			want: append(append([]string{
				"umask 0000",
				"mknod <root>/dev/fuse c 0600 10:229",
				"lchown <root>/dev/fuse 1000:100",
				"mknod <root>/dev/sda b 0660 8:0",
				"mknod <root>/dev/fifo p 0666 0:0",
			}, defaultMknods...), "umask 0022"),
		},
		{
			name:    "a linux.devices entry replaces the default of that path",
			devices: []rspec.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o600)}},
			want: append(append([]string{"umask 0000", "mknod <root>/dev/null c 0600 1:3"},
				defaultMknods[1:]...), "umask 0022"),
		},
		{
			name:    "mknod refused: the host's node is bound onto an empty file",
			devices: []rspec.LinuxDevice{{Path: "<tmp>/dev/kvm", Type: "c", Major: 10, Minor: 232}},
			host:    []string{"dev/kvm"},
			fail:    map[string]error{"mknod <root><tmp>/dev/kvm c 0666 10:232": unix.EPERM},
			want: append(append([]string{
				"umask 0000",
				"mknod <root><tmp>/dev/kvm c 0666 10:232",
				"mount <tmp>/dev/kvm <root><tmp>/dev/kvm - MS_BIND",
			}, defaultMknods...), "umask 0022"),
		},
		{
			name:    "the rootfs's own node is kept",
			devices: []rspec.LinuxDevice{fuse},
			fail:    map[string]error{"mknod <root>/dev/fuse c 0600 10:229": unix.EEXIST},
			want:    append(append([]string{"umask 0000", "mknod <root>/dev/fuse c 0600 10:229"}, defaultMknods...), "umask 0022"),
		},
		{
			name:    "other mknod errors stop",
			devices: []rspec.LinuxDevice{fuse},
			fail:    map[string]error{"mknod <root>/dev/fuse c 0600 10:229": unix.EROFS},
			want:    []string{"umask 0000", "mknod <root>/dev/fuse c 0600 10:229", "umask 0022"},
			err:     "linux.devices[0] /dev/fuse: mknod <root>/dev/fuse: read-only file system",
		},
		{
			name:    "unknown type",
			devices: []rspec.LinuxDevice{{Path: "/dev/x", Type: "z"}},
			want:    []string{"umask 0000", "umask 0022"},
			err:     `linux.devices[0] /dev/x: type "z": want c, u, b or p`,
		},
		{
			name:    "in a user namespace every device is a bind",
			ns:      []rspec.LinuxNamespaceType{rspec.UserNamespace},
			devices: []rspec.LinuxDevice{{Path: "<tmp>/dev/kvm", Type: "c", Major: 10, Minor: 232}},
			host:    []string{"dev/kvm"},
			want: []string{
				"umask 0000",
				"mount <tmp>/dev/kvm <root><tmp>/dev/kvm - MS_BIND",
				"mount /dev/null <root>/dev/null - MS_BIND",
				"mount /dev/zero <root>/dev/zero - MS_BIND",
				"mount /dev/full <root>/dev/full - MS_BIND",
				"mount /dev/random <root>/dev/random - MS_BIND",
				"mount /dev/urandom <root>/dev/urandom - MS_BIND",
				"mount /dev/tty <root>/dev/tty - MS_BIND",
				"umask 0022",
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, r := testRoot(t)
			spec := withNamespaces(append([]rspec.LinuxNamespaceType{rspec.MountNamespace}, c.ns...)...)
			for _, d := range c.devices {
				d.Path = strings.ReplaceAll(d.Path, "<tmp>", r.tmp)
				spec.Linux.Devices = append(spec.Linux.Devices, d)
			}
			for _, h := range c.host {
				writeFile(t, r.tmp+"/"+h, "")
			}
			for call, err := range c.fail {
				r.fail[call] = err
			}
			err := testSetup(root, r, spec).devices()
			if c.err == "" && err != nil {
				t.Fatal(err)
			}
			if c.err != "" {
				msg := ""
				if err != nil {
					msg = strings.ReplaceAll(err.Error(), root, "<root>")
				}
				if msg != c.err {
					t.Fatalf("error %q, want %q", msg, c.err)
				}
			}
			equalCalls(t, r.calls, c.want)
			if r.umask != 0o022 {
				t.Errorf("umask left at %04o", r.umask)
			}
		})
	}
}

func TestDevLinks(t *testing.T) {
	devpts := rspec.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts"}
	for _, c := range []struct {
		name   string
		mounts []rspec.Mount
		kcore  bool
		want   map[string]string // name in /dev -> link target; "" for no link
	}{
		{
			name: "the spec's links; no core without /proc/kcore, no ptmx without devpts",
			want: map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "", "ptmx": ""},
		},
		{
			name:   "core and ptmx",
			mounts: []rspec.Mount{devpts},
			kcore:  true,
			want:   map[string]string{"fd": "/proc/self/fd", "core": "/proc/kcore", "ptmx": "pts/ptmx"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, r := testRoot(t)
			r.exists["/proc/kcore"] = c.kcore
			// A ptmx node from the image is replaced by the link.
			writeFile(t, root+"/dev/ptmx", "")
			spec := withNamespaces(rspec.MountNamespace)
			spec.Mounts = c.mounts
			if err := testSetup(root, r, spec).devLinks(); err != nil {
				t.Fatal(err)
			}
			for name, want := range c.want {
				got, err := os.Readlink(root + "/dev/" + name)
				if want == "" && err == nil {
					t.Errorf("/dev/%s links to %s, want no link", name, got)
				}
				if want != "" && got != want {
					t.Errorf("/dev/%s links to %q (%v), want %q", name, got, err, want)
				}
			}
			// Made twice (an image that has them): no error.
			if err := testSetup(root, r, spec).devLinks(); err != nil {
				t.Errorf("second run: %v", err)
			}
		})
	}
}
