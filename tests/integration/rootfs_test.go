package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rootMountLine prints the mountinfo line of the container's /.
const rootMountLine = `grep -E "^[0-9]+ [0-9]+ [0-9]+:[0-9]+ [^ ]+ / " /proc/self/mountinfo`

func TestRootfs(t *testing.T) {
	t.Parallel()
	runInside(t, []insideCase{
		{
			name:     "readonly root",
			args:     []string{"touch", "/x"},
			edit:     func(_ *testing.T, b *bundle) { b.spec.Root.Readonly = true },
			wantCode: 1,
			wantErr:  "Read-only file system",
		},
		{
			name: "writable root",
			args: []string{"sh", "-c", "touch /x && echo ok"},
			edit: func(_ *testing.T, b *bundle) { b.spec.Root.Readonly = false },
			want: "ok",
		},
		{
			name: "maskedPaths",
			args: []string{"sh", "-c", "cat /etc/secret; ls /etc/secretdir; echo end"},
			edit: func(t *testing.T, b *bundle) {
				writeFile(t, b.rootfs("etc/secret"), "top secret\n")
				writeFile(t, b.rootfs("etc/secretdir/file"), "also secret\n")
				b.spec.Linux.MaskedPaths = append(b.spec.Linux.MaskedPaths, "/etc/secret", "/etc/secretdir")
			},
			want: "end",
		},
		{
			name: "readonlyPaths",
			args: []string{"sh", "-c", "touch /elsewhere && cat /data/file && touch /data/new"},
			edit: func(t *testing.T, b *bundle) {
				writeFile(t, b.rootfs("data/file"), "readable\n")
				b.spec.Root.Readonly = false
				b.spec.Linux.ReadonlyPaths = append(b.spec.Linux.ReadonlyPaths, "/data")
			},
			want:     "readable",
			wantCode: 1,
			wantErr:  "Read-only file system",
		},
		{
			name: "bind mount ro",
			args: []string{"sh", "-c", "cat /mnt/host/file && touch /mnt/host/new"},
			edit: func(t *testing.T, b *bundle) {
				bindSrc := filepath.Join(b.dir, "hostdir")
				writeFile(t, filepath.Join(bindSrc, "file"), "from the host\n")
				b.spec.Mounts = append(b.spec.Mounts, rspec.Mount{
					Destination: "/mnt/host", Type: "bind", Source: bindSrc, Options: []string{"rbind", "ro"},
				})
			},
			wantCode: 1,
			wantErr:  "Read-only file system",
			check: func(t *testing.T, b *bundle, r result) {
				if strings.TrimSpace(r.stdout) != "from the host" {
					t.Errorf("want the host file through the bind mount, got %s", r)
				}
				if exists(filepath.Join(b.dir, "hostdir", "new")) {
					t.Errorf("the container wrote through a read-only bind mount")
				}
			},
		},
		{
			name: "tmpfs",
			args: []string{"sh", "-c", `grep " /scratch " /proc/self/mountinfo; touch /scratch/a && stat -c %a /scratch`},
			edit: func(_ *testing.T, b *bundle) {
				b.spec.Root.Readonly = true
				b.spec.Mounts = append(b.spec.Mounts, rspec.Mount{
					Destination: "/scratch", Type: "tmpfs", Source: "tmpfs",
					Options: []string{"nosuid", "nodev", "size=1m", "mode=700"},
				})
			},
			check: func(t *testing.T, b *bundle, r result) {
				lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
				if len(lines) != 2 || lines[1] != "700" {
					t.Fatalf("want the mountinfo line and mode 700, got %s", r)
				}
				for _, w := range []string{"nosuid", "nodev", "- tmpfs ", "size=1024k"} {
					if !strings.Contains(lines[0], w) {
						t.Errorf("want %q in the mount of /scratch: %q", w, lines[0])
					}
				}
			},
		},
		{
			name: "devices",
			args: []string{"sh", "-c", `stat -c "%F %t:%T %a %u:%g" /dev/mydev && echo x >/dev/mydev && echo wrote`},
			edit: func(_ *testing.T, b *bundle) {
				mode := os.FileMode(0o666)
				uid, gid := uint32(0), uint32(0)
				b.spec.Linux.Devices = append(b.spec.Linux.Devices, rspec.LinuxDevice{
					Path: "/dev/mydev", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid,
				})
				major, minor := int64(1), int64(3)
				if b.spec.Linux.Resources == nil {
					b.spec.Linux.Resources = &rspec.LinuxResources{}
				}
				b.spec.Linux.Resources.Devices = append(b.spec.Linux.Resources.Devices, rspec.LinuxDeviceCgroup{
					Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm",
				})
			},
			want: "character special file 1:3 666 0:0\nwrote",
		},
		{
			name: "default devices",
			args: []string{"sh", "-c", `for d in null zero full random urandom tty; do stat -c "%n %t:%T %a" /dev/$d; done; readlink /dev/fd; readlink /dev/ptmx`},
			want: strings.Join([]string{
				"/dev/null 1:3 666", "/dev/zero 1:5 666", "/dev/full 1:7 666", "/dev/random 1:8 666",
				"/dev/urandom 1:9 666", "/dev/tty 5:0 666", "/proc/self/fd", "pts/ptmx",
			}, "\n"),
		},
		{
			name: "sysctl",
			args: []string{"cat", "/proc/sys/net/ipv4/ip_forward"},
			edit: func(t *testing.T, b *bundle) {
				host, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(host) {
						t.Errorf("the container's sysctl changed the host's ip_forward from %q to %q", host, now)
					}
				})
				b.spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
			},
			want: "1",
		},
		{
			name: "rootfsPropagation private",
			args: []string{"sh", "-c", rootMountLine},
			edit: func(_ *testing.T, b *bundle) { b.spec.Linux.RootfsPropagation = "private" },
			check: func(t *testing.T, b *bundle, r result) {
				if r.stdout == "" || strings.Contains(r.stdout, "shared:") || strings.Contains(r.stdout, "master:") {
					t.Errorf("want a private / in mountinfo, got %s", r)
				}
			},
		},
		{
			name: "rootfsPropagation shared",
			args: []string{"sh", "-c", rootMountLine},
			edit: func(_ *testing.T, b *bundle) { b.spec.Linux.RootfsPropagation = "shared" },
			check: func(t *testing.T, b *bundle, r result) {
				if !strings.Contains(r.stdout, " shared:") {
					t.Errorf("want a shared / in mountinfo, got %s", r)
				}
			},
		},
		{
			name: "rootfsPropagation unbindable",
			args: []string{"sh", "-c", rootMountLine},
			edit: func(_ *testing.T, b *bundle) { b.spec.Linux.RootfsPropagation = "unbindable" },
			check: func(t *testing.T, b *bundle, r result) {
				if !strings.Contains(r.stdout, " unbindable ") {
					t.Errorf("want an unbindable / in mountinfo, got %s", r)
				}
			},
		},
	})
}
