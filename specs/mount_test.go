package specs

import (
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		want MountFlags
	}{
		{"none", nil, MountFlags{}},
		{"ro", []string{"ro"}, MountFlags{Flags: unix.MS_RDONLY}},
		{"last wins", []string{"ro", "rw"}, MountFlags{ClearFlags: unix.MS_RDONLY}},
		{"clear then set", []string{"suid", "nosuid"}, MountFlags{Flags: unix.MS_NOSUID}},
		{"runc /dev", []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			MountFlags{Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: []string{"mode=755", "size=65536k"}}},
		{"runc cgroup", []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
			MountFlags{Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RELATIME | unix.MS_RDONLY}},
		{"bind", []string{"bind"}, MountFlags{Flags: unix.MS_BIND}},
		{"rbind", []string{"rbind", "ro"}, MountFlags{Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, Recursive: true}},
		{"misc flags", []string{"sync", "dirsync", "remount", "mand", "noatime", "nodiratime", "nosymfollow", "defaults"},
			MountFlags{Flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_REMOUNT | unix.MS_MANDLOCK | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_NOSYMFOLLOW}},
		{"clear misc", []string{"async", "nomand", "atime", "diratime", "norelatime", "nostrictatime", "dev", "exec"},
			MountFlags{ClearFlags: unix.MS_SYNCHRONOUS | unix.MS_MANDLOCK | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_NODEV | unix.MS_NOEXEC}},
		{"propagation in order", []string{"rprivate", "shared", "rslave", "unbindable"},
			MountFlags{Propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED, unix.MS_SLAVE | unix.MS_REC, unix.MS_UNBINDABLE}}},
		{"recursive attrs", []string{"rro", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow"},
			MountFlags{RecAttrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW}},
		{"recursive clear", []string{"rro", "rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"},
			MountFlags{RecAttrClr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW}},
		{"rnoatime", []string{"rnoatime"}, MountFlags{RecAttrSet: unix.MOUNT_ATTR_NOATIME, RecAttrClr: unix.MOUNT_ATTR__ATIME}},
		{"atime modes replace each other", []string{"rnoatime", "rstrictatime"},
			MountFlags{RecAttrSet: unix.MOUNT_ATTR_STRICTATIME, RecAttrClr: unix.MOUNT_ATTR__ATIME}},
		{"ratime", []string{"rnoatime", "ratime"}, MountFlags{RecAttrSet: unix.MOUNT_ATTR_RELATIME, RecAttrClr: unix.MOUNT_ATTR__ATIME}},
		{"rnorelatime", []string{"rnorelatime", "rro"},
			MountFlags{RecAttrSet: unix.MOUNT_ATTR_STRICTATIME | unix.MOUNT_ATTR_RDONLY, RecAttrClr: unix.MOUNT_ATTR__ATIME}},
		{"idmap", []string{"bind", "idmap"}, MountFlags{Flags: unix.MS_BIND, IDMap: true}},
		{"ridmap", []string{"ridmap"}, MountFlags{IDMap: true, RecursiveIDMap: true}},
		{"tmpcopyup", []string{"tmpcopyup"}, MountFlags{TmpCopyUp: true}},
		{"data and empties", []string{"", "uid=5", "", "newinstance"}, MountFlags{Data: []string{"uid=5", "newinstance"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseMountOptions(tt.opts)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseMountOptions(%q) =\n%+v, want\n%+v", tt.opts, got, tt.want)
			}
		})
	}
}

func TestMountFlagsHelpers(t *testing.T) {
	m := ParseMountOptions([]string{"rbind", "mode=755", "size=1k"})
	if !m.IsBind() {
		t.Error("IsBind() = false for rbind")
	}
	if got := m.DataString(); got != "mode=755,size=1k" {
		t.Errorf("DataString() = %q", got)
	}
	m = ParseMountOptions([]string{"ro"})
	if m.IsBind() || m.DataString() != "" {
		t.Errorf("ro: IsBind %v, DataString %q", m.IsBind(), m.DataString())
	}
}

func TestMountOptionNames(t *testing.T) {
	names := MountOptionNames()
	if !slices.IsSorted(names) {
		t.Error("names are not sorted")
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Error("names have duplicates")
	}
	for _, want := range []string{"ro", "rbind", "rprivate", "rro", "rnoatime", "idmap", "ridmap", "tmpcopyup"} {
		if !slices.Contains(names, want) {
			t.Errorf("%q missing", want)
		}
	}
	// Every name listed must be parsed as an option, not passed on as data.
	for _, n := range names {
		if m := ParseMountOptions([]string{n}); len(m.Data) != 0 {
			t.Errorf("%q is listed but parsed as data", n)
		}
	}
}
