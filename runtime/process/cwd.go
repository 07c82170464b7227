package process

import (
	"fmt"
	"path"

	"golang.org/x/sys/unix"
)

// CheckCwd changes to process.cwd inside the container (after pivot_root)
// and checks that the kernel can name the result from the container's root.
// A cwd reached through a descriptor leaked from the host (such as
// /proc/self/fd/N) makes getcwd fail with "(unreachable)": that is the check
// against runc's CVE-2024-21626. It creates nothing; symlinks in cwd are
// followed, so the resulting directory may have another name.
func CheckCwd(cwd string) error {
	if !path.IsAbs(cwd) {
		return fmt.Errorf("process.cwd %q: not an absolute path", cwd)
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	// unix.Getwd fails with ENOENT on an unreachable directory; os.Getwd
	// would trust $PWD instead.
	if _, err := unix.Getwd(); err != nil {
		return fmt.Errorf("process.cwd %s: not reachable from the container's root: %w", cwd, err)
	}
	return nil
}
