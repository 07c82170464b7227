package volumes

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Remove deletes the volume and its data. A volume that a container uses
// is refused with errdefs.ErrConflict naming the containers; force only
// makes a missing volume no error, as `docker volume rm -f`.
func (s *Store) Remove(name string, force bool) error {
	fromContainers := s.usersFunc()(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.volumes[name]; !ok {
		if force {
			return nil
		}
		return noSuchVolume(name)
	}
	if ids := s.usersLocked(name, fromContainers); len(ids) > 0 {
		return errdefs.Conflict("remove %s: volume is in use - [%s]", name, strings.Join(ids, ", "))
	}
	if err := s.destroyLocked(name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Prune removes the volumes that no container uses and that match all the
// filters, as Docker 20.10's `volume prune` (named and anonymous alike).
// It returns the names removed and the bytes their data took. A volume
// that cannot be removed is skipped and named in the error.
func (s *Store) Prune(filters ...LabelFilter) (deleted []string, reclaimed uint64, err error) {
	var errs []error
	for _, v := range s.List() {
		if !matchAll(filters, v.Labels) {
			continue
		}
		fromContainers := s.usersFunc()(v.Name)
		if len(fromContainers) > 0 {
			continue
		}
		// A size that cannot be read counts as nothing: pruning matters more.
		size, _ := s.Size(v.Name)
		s.mu.Lock()
		_, exists := s.volumes[v.Name]
		if !exists || len(s.usersLocked(v.Name, nil)) > 0 {
			s.mu.Unlock()
			continue
		}
		derr := s.destroyLocked(v.Name)
		s.mu.Unlock()
		if derr != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", v.Name, derr))
			continue
		}
		deleted = append(deleted, v.Name)
		reclaimed += uint64(size)
	}
	return deleted, reclaimed, errors.Join(errs...)
}

// destroyLocked unmounts the volume's file system if a stale mount is left,
// renames its directory away (the volume is gone from then on, even after
// a crash) and deletes that.
func (s *Store) destroyLocked(name string) error {
	v := s.volumes[name]
	if st := s.mounts[name]; st != nil && st.mounted {
		if err := unix.Unmount(v.Mountpoint, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("unmount %s: %w", v.Mountpoint, err)
		}
	}
	delete(s.mounts, name)
	if err := unmountAll(v.Mountpoint); err != nil {
		return err
	}
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	trash := filepath.Join(s.root, removingPrefix+name+"-"+hex.EncodeToString(suffix))
	if err := os.Rename(filepath.Join(s.root, name), trash); err != nil {
		return err
	}
	delete(s.volumes, name)
	if err := syncDir(s.root); err != nil {
		return err
	}
	return removeTree(trash)
}

// removeTree deletes dir, but never through a mount: a volume of type none
// and o=bind has a host directory mounted on its _data, and deleting
// through it would delete the host's files.
func removeTree(dir string) error {
	if err := unmountAll(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// unmountAll unmounts everything mounted at or below dir, deepest first,
// and fails if anything stays mounted.
func unmountAll(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	for _, m := range mounts {
		if err := unix.Unmount(m.Mountpoint, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("%s is mounted and cannot be unmounted (%w): not deleting through it", m.Mountpoint, err)
		}
	}
	return nil
}

// LabelFilter selects volumes by label, as the filters label=KEY,
// label=KEY=VALUE, label!=KEY and label!=KEY=VALUE of `volume prune` and
// `volume ls`.
type LabelFilter struct {
	Key      string
	Value    string
	HasValue bool // compare Value too, not only the presence of Key
	Negate   bool // label!=: select the volumes that do not match
}

// ParseLabelFilter reads "KEY" or "KEY=VALUE", the value of a label (or,
// with negate, a label!) filter.
func ParseLabelFilter(expr string, negate bool) LabelFilter {
	key, value, hasValue := strings.Cut(expr, "=")
	return LabelFilter{Key: key, Value: value, HasValue: hasValue, Negate: negate}
}

// Match reports whether labels pass the filter.
func (f LabelFilter) Match(labels map[string]string) bool {
	v, ok := labels[f.Key]
	matched := ok && (!f.HasValue || v == f.Value)
	return matched != f.Negate
}

func matchAll(filters []LabelFilter, labels map[string]string) bool {
	for _, f := range filters {
		if !f.Match(labels) {
			return false
		}
	}
	return true
}
