package rootfs

import "golang.org/x/sys/unix"

// perMountFlags are the flags a bind remount (MS_BIND|MS_REMOUNT) changes.
const perMountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_NOSYMFOLLOW

const atimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// stNoSymfollow is ST_NOSYMFOLLOW from statvfs.h; x/sys/unix lacks it.
const stNoSymfollow = 0x2000

// statfsFlags turns statfs f_flags (ST_*) into the MS_* flags of the mount.
// The two sets share values only in part (ST_RELATIME is MS_BIND), so they are
// mapped one by one.
func statfsFlags(st int64) uintptr {
	var f uintptr
	for _, p := range [...]struct {
		st int64
		ms uintptr
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY},
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
		{stNoSymfollow, unix.MS_NOSYMFOLLOW},
	} {
		if st&p.st != 0 {
			f |= p.ms
		}
	}
	if f&(unix.MS_NOATIME|unix.MS_RELATIME) == 0 {
		f |= unix.MS_STRICTATIME
	}
	return f
}
