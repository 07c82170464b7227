package copier

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// owner is a numeric uid and gid.
type owner struct{ uid, gid int }

// parseChown resolves --chown as Docker's classic builder does: "user"
// alone means the group of the same name (or number), and names are
// looked up in the target rootfs's /etc/passwd and /etc/group.
func parseChown(rootfs, s string) (owner, error) {
	if s == "" {
		return owner{}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return owner{}, errdefs.Invalid("invalid chown string format: %s", s)
	}
	user, group := parts[0], parts[0]
	if len(parts) == 2 {
		group = parts[1]
	}
	uid, err := lookupID(rootfs, "/etc/passwd", "user", user)
	if err != nil {
		return owner{}, errdefs.Invalid("can't find uid for user %s: %v", user, err)
	}
	gid, err := lookupID(rootfs, "/etc/group", "group", group)
	if err != nil {
		return owner{}, errdefs.Invalid("can't find gid for group %s: %v", group, err)
	}
	return owner{uid, gid}, nil
}

// lookupID answers a number as itself, a name from file (passwd or group
// format: name:password:id:...) inside rootfs.
func lookupID(rootfs, file, kind, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative %s id %d", kind, n)
		}
		return n, nil
	}
	p, err := securejoin.SecureJoin(rootfs, file)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, fmt.Errorf("open %s: no such file or directory", file)
		}
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			id, err := strconv.Atoi(fields[2])
			if err != nil || id < 0 {
				return 0, fmt.Errorf("bad %s id %q for %s in %s", kind, fields[2], name, file)
			}
			return id, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", file, err)
	}
	return 0, fmt.Errorf("no such %s: %s", kind, name)
}
