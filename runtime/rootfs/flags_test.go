package rootfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestStatfsFlags(t *testing.T) {
	for _, c := range []struct {
		st   int64
		want uintptr
	}{
		{unix.ST_RELATIME, unix.MS_RELATIME},
		{0, unix.MS_STRICTATIME},
		{unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_NOATIME,
			unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME},
		// ST_RELATIME has the value of MS_BIND and ST_NOSYMFOLLOW that of
		// MS_MOVE: neither may leak through.
		{unix.ST_RELATIME | stNoSymfollow | unix.ST_NODIRATIME, unix.MS_RELATIME | unix.MS_NOSYMFOLLOW | unix.MS_NODIRATIME},
		// ST_VALID (0x20, MS_REMOUNT) and ST_SYNCHRONOUS do not count.
		{0x20 | unix.ST_SYNCHRONOUS | unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if got := statfsFlags(c.st); got != c.want {
			t.Errorf("statfsFlags(%#x) = %s, want %s", c.st, msFlags(got), msFlags(c.want))
		}
	}
}
