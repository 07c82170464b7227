package snapshots

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// diskUsage sums the sizes of the regular files and symlinks under dir,
// counting a file with several hardlinks once.
func diskUsage(dir string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		if fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0 {
			size += fi.Size()
		}
		return nil
	})
	return size, err
}
