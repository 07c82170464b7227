package rootfs

import (
	"os"
	"reflect"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const hybridMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /cg/cpu,cpuacct rw,nosuid,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /cg/memory rw,nosuid,relatime - cgroup cgroup rw,memory
40 31 0:37 / /cg/systemd rw,nosuid,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /cg/unified rw,relatime - cgroup2 cgroup2 rw
`

const hybridCgroup = `12:name=systemd:/user.slice
4:memory:/ctr
3:cpu,cpuacct:/ctr
0::/ctr
`

func TestParseHierarchies(t *testing.T) {
	for _, c := range []struct {
		name, cgroup, mountinfo string
		want                    []hierarchy
		err                     string
	}{
		{
			name: "hybrid host, in mount order", cgroup: hybridCgroup, mountinfo: hybridMountinfo,
			want: []hierarchy{
				{"/cg/cpu,cpuacct", "/cg/cpu,cpuacct/ctr", "cpu,cpuacct"},
				{"/cg/memory", "/cg/memory/ctr", "memory"},
				{"/cg/systemd", "/cg/systemd/user.slice", "name=systemd"},
			},
		},
		{
			name:      "the mount shows only part of the hierarchy",
			cgroup:    "4:memory:/docker/abc/ctr\n",
			mountinfo: "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			want:      []hierarchy{{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/ctr", "memory"}},
		},
		{
			name:      "the init's cgroup outside what the mount shows",
			cgroup:    "4:memory:/other\n",
			mountinfo: "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			err:       "cgroup /other of the init is outside the host's mount of memory",
		},
		{
			name:      "a hierarchy mounted twice is bound once",
			cgroup:    "4:memory:/\n",
			mountinfo: "35 31 0:32 / /a rw - cgroup cgroup rw,memory\n36 31 0:32 / /b rw - cgroup cgroup rw,memory\n",
			want:      []hierarchy{{"/a", "/a", "memory"}},
		},
		{
			name:      "cpu alone does not take a combined cpu,cpuacct mount",
			cgroup:    "3:cpu:/\n",
			mountinfo: "32 31 0:29 / /cg/cpuacct rw - cgroup cgroup rw,cpuacct\n",
		},
		{
			name:      "v2 only",
			cgroup:    "0::/ctr\n",
			mountinfo: "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseHierarchies([]byte(c.cgroup), []byte(c.mountinfo))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestMountCgroup(t *testing.T) {
	cgroupns := withNamespaces(rspec.MountNamespace, rspec.CgroupNamespace)
	// hybrid puts the host's hierarchies under <tmp>/cg, with the init's cgroups in them.
	hybrid := func(t *testing.T, _ string, r *recorder) {
		r.files["/proc/self/mountinfo"] = strings.ReplaceAll(hybridMountinfo, " /cg/", " "+r.tmp+"/cg/")
		r.files["/proc/self/cgroup"] = hybridCgroup
		mkdirs(t, r.tmp+"/cg/cpu,cpuacct/ctr", r.tmp+"/cg/memory/ctr", r.tmp+"/cg/systemd/user.slice")
	}
	unified := func(t *testing.T, _ string, r *recorder) {
		mkdirs(t, r.tmp+"/cgroup")
		r.statfs[r.tmp+"/cgroup"] = unix.Statfs_t{Type: unix.CGROUP2_SUPER_MAGIC}
	}
	docker := rspec.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}}
	const remountSub = "MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND|MS_RELATIME"
	links := func(t *testing.T, root string) {
		for _, name := range []string{"cpu", "cpuacct"} {
			if l, err := os.Readlink(root + "/sys/fs/cgroup/" + name); err != nil || l != "cpu,cpuacct" {
				t.Errorf("%s: link to %q (%v), want cpu,cpuacct", name, l, err)
			}
		}
	}

	for _, c := range []mountCase{
		{
			name:  "v1: a tmpfs with a bind of the init's cgroup per hierarchy",
			setup: hybrid,
			m:     docker,
			want: []string{
				"mount tmpfs <root>/sys/fs/cgroup tmpfs MS_NOSUID|MS_NODEV|MS_NOEXEC mode=755",
				"mount <tmp>/cg/cpu,cpuacct/ctr <root>/sys/fs/cgroup/cpu,cpuacct - MS_BIND|MS_REC",
				"mount - <root>/sys/fs/cgroup/cpu,cpuacct - " + remountSub,
				"mount <tmp>/cg/memory/ctr <root>/sys/fs/cgroup/memory - MS_BIND|MS_REC",
				"mount - <root>/sys/fs/cgroup/memory - " + remountSub,
				"mount <tmp>/cg/systemd/user.slice <root>/sys/fs/cgroup/systemd - MS_BIND|MS_REC",
				"mount - <root>/sys/fs/cgroup/systemd - " + remountSub,
				"mount - <root>/sys/fs/cgroup - MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
			},
			check: links,
		},
		{
			name:  "v1 with a cgroup namespace: each hierarchy mounted",
			spec:  cgroupns,
			setup: hybrid,
			m:     docker,
			want: []string{
				"mount tmpfs <root>/sys/fs/cgroup tmpfs MS_NOSUID|MS_NODEV|MS_NOEXEC mode=755",
				"mount cgroup <root>/sys/fs/cgroup/cpu,cpuacct cgroup MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC cpu,cpuacct",
				"mount cgroup <root>/sys/fs/cgroup/memory cgroup MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC memory",
				"mount cgroup <root>/sys/fs/cgroup/systemd cgroup MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC name=systemd",
				"mount - <root>/sys/fs/cgroup - MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND",
			},
			check: links,
		},
		{
			name:  "v1 read-write: no remount of the tmpfs",
			setup: hybrid,
			m:     rspec.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Options: []string{"rprivate"}},
			want: []string{
				"mount tmpfs <root>/sys/fs/cgroup tmpfs MS_NOSUID|MS_NODEV|MS_NOEXEC mode=755",
				"mount - <root>/sys/fs/cgroup - MS_REC|MS_PRIVATE",
				"mount <tmp>/cg/cpu,cpuacct/ctr <root>/sys/fs/cgroup/cpu,cpuacct - MS_BIND|MS_REC",
				"mount - <root>/sys/fs/cgroup/cpu,cpuacct - MS_REC|MS_PRIVATE",
				"mount <tmp>/cg/memory/ctr <root>/sys/fs/cgroup/memory - MS_BIND|MS_REC",
				"mount - <root>/sys/fs/cgroup/memory - MS_REC|MS_PRIVATE",
				"mount <tmp>/cg/systemd/user.slice <root>/sys/fs/cgroup/systemd - MS_BIND|MS_REC",
				"mount - <root>/sys/fs/cgroup/systemd - MS_REC|MS_PRIVATE",
			},
		},
		{
			name:  "v1 without /proc/self/cgroup",
			m:     docker,
			err:   "open /proc/self/cgroup",
			want:  nil,
			setup: func(*testing.T, string, *recorder) {},
		},
		{
			name:  "v2 host: type cgroup mounts cgroup2",
			setup: unified,
			m:     docker,
			want:  []string{"mount cgroup <root>/sys/fs/cgroup cgroup2 MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_RELATIME"},
		},
		{
			name: "cgroup2 refused in a user namespace: the host's is bound",
			setup: func(t *testing.T, root string, r *recorder) {
				unified(t, root, r)
				r.fail["mount cgroup <root>/sys/fs/cgroup cgroup2 MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_RELATIME"] = unix.EPERM
			},
			m: docker,
			want: []string{
				"mount cgroup <root>/sys/fs/cgroup cgroup2 MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_RELATIME",
				"mount <tmp>/cgroup <root>/sys/fs/cgroup - MS_BIND",
				"mount - <root>/sys/fs/cgroup - " + remountSub,
			},
		},
		{
			name: "cgroup2 busy on a v1 host: the host's unified hierarchy is bound",
			setup: func(t *testing.T, _ string, r *recorder) {
				mkdirs(t, r.tmp+"/cgroup/unified")
				r.fail["mount cgroup2 <root>/sys/fs/cgroup cgroup2 0"] = unix.EBUSY
			},
			m: rspec.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2"},
			want: []string{
				"mount cgroup2 <root>/sys/fs/cgroup cgroup2 0",
				"mount <tmp>/cgroup/unified <root>/sys/fs/cgroup - MS_BIND",
			},
		},
		{
			name: "cgroup2 failing otherwise is an error",
			setup: func(_ *testing.T, _ string, r *recorder) {
				r.fail["mount cgroup2 <root>/sys/fs/cgroup cgroup2 0"] = unix.EINVAL
			},
			m:    rspec.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2"},
			want: []string{"mount cgroup2 <root>/sys/fs/cgroup cgroup2 0"},
			err:  "mount: invalid argument",
		},
	} {
		t.Run(c.name, func(t *testing.T) { runMountCase(t, c) })
	}
}
