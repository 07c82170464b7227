package rootfs

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckedTarget covers the check the real system makes before each mount
// inside the rootfs: the target, opened, must still be the resolved path. It
// fails before any mount(2), so it needs no root.
func TestCheckedTarget(t *testing.T) {
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mkdirs(t, tmp+"/rootfs/data", tmp+"/outside")
	// Swapped in after resolution: the rootfs's data now leads out.
	if err := os.Symlink(tmp+"/outside", tmp+"/rootfs/link"); err != nil {
		t.Fatal(err)
	}

	err = kernel{checked: true}.Mount("tmpfs", tmp+"/rootfs/link", "tmpfs", 0, "")
	if err == nil || !strings.Contains(err.Error(), "leads to "+tmp+"/outside: refusing to mount through a symlink") {
		t.Errorf("mount through a symlink: %v", err)
	}
	err = kernel{checked: true}.MountSetattr(tmp+"/rootfs/link", unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	if err == nil || !strings.Contains(err.Error(), "refusing to mount through a symlink") {
		t.Errorf("mount_setattr through a symlink: %v", err)
	}
	if err := (kernel{checked: true}).Mount("tmpfs", tmp+"/rootfs/none", "tmpfs", 0, ""); err != unix.ENOENT {
		t.Errorf("missing target: %v, want ENOENT", err)
	}

	for _, target := range []string{tmp + "/rootfs/data", tmp + "/rootfs/link", "/"} {
		fd, err := unix.Open(target, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := fdPath(fd, target)
		unix.Close(fd)
		isLink := target == tmp+"/rootfs/link"
		if isLink && err == nil {
			t.Errorf("fdPath(%s) passed", target)
		}
		if !isLink && (err != nil || p != "/proc/self/fd/"+strconv.Itoa(fd)) {
			t.Errorf("fdPath(%s) = %q, %v", target, p, err)
		}
	}
	// A longer real path is caught even when the target is its prefix.
	fd, err := unix.Open(tmp+"/rootfs/data", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := fdPath(fd, tmp+"/rootfs/dat"); err == nil {
		t.Error("fdPath accepted a prefix of the real path")
	}
}
