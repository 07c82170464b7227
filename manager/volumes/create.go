package volumes

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// restrictedNameChars is Docker's rule for local volume names, quoted in
// its error message.
const restrictedNameChars = `[a-zA-Z0-9][a-zA-Z0-9_.-]`

var validName = regexp.MustCompile(`^` + restrictedNameChars + `+$`)

// The local driver's options: type and device are mount(8)'s -t and
// device, o its -o. Each needs the ones listed ("size", a quota on xfs,
// is not supported).
var requiredOptions = map[string][]string{
	"type":   {"device"},
	"device": {"type"},
	"o":      {"device"},
}

// Create makes a volume. An empty name makes an anonymous volume with a
// random 64-hex-digit name. Creating a volume that exists returns it, as
// Docker does, unless the options differ (errdefs.ErrConflict); its labels
// are left as they were. driver must be "" or "local". The options
// (type, device, o) are mounted when a container first uses the volume.
func (s *Store) Create(name, driver string, opts, labels map[string]string) (*Volume, error) {
	if name == "" {
		var err error
		if name, err = randomName(); err != nil {
			return nil, err
		}
	} else if err := validateName(name); err != nil {
		return nil, errdefs.Invalid("create %s: %v", name, err)
	}
	if driver != "" && driver != driverLocal {
		return nil, errdefs.NotFound("create %s: error looking up volume plugin %s: plugin %q not found", name, driver, driver)
	}
	if err := validateOptions(opts); err != nil {
		return nil, errdefs.Invalid("create %s: %v", name, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.volumes[name]; ok {
		if !sameOptions(v.Options, opts) {
			return nil, errdefs.Conflict("create %s: volume name must be unique: a volume of that name exists with other options", name)
		}
		return clone(v), nil
	}
	dir := filepath.Join(s.root, name)
	v := &Volume{
		Name: name, Driver: driverLocal, Scope: driverLocal,
		Mountpoint: filepath.Join(dir, dataDir),
		CreatedAt:  time.Now().UTC().Truncate(time.Second),
		Labels:     maps.Clone(labels), Options: maps.Clone(opts),
	}
	if err := s.persist(v); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	s.volumes[name] = v
	return clone(v), nil
}

// persist builds the volume's directory under a temporary name and renames
// it into place, so that a failure at any step leaves nothing.
func (s *Store) persist(v *Volume) (err error) {
	tmp, err := os.MkdirTemp(s.root, creatingPrefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(tmp, dataDir), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(record{Name: v.Name, Driver: v.Driver, CreatedAt: v.CreatedAt, Labels: v.Labels, Options: v.Options})
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(tmp, recordFile), b); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.root, v.Name)); err != nil {
		return err
	}
	return syncDir(s.root)
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// validateName applies Docker's rule and words its messages the same way.
func validateName(name string) error {
	if len(name) == 1 {
		return fmt.Errorf("volume name is too short, names should be at least two alphanumeric characters")
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("%q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", name, restrictedNameChars)
	}
	return nil
}

func validateOptions(opts map[string]string) error {
	for key := range opts {
		if key == "size" {
			return fmt.Errorf("quota size requested but no quota support")
		}
		if _, ok := requiredOptions[key]; !ok {
			return fmt.Errorf("invalid option: %q", key)
		}
	}
	for key, needs := range requiredOptions {
		if _, ok := opts[key]; !ok {
			continue
		}
		for _, need := range needs {
			if _, ok := opts[need]; !ok {
				return fmt.Errorf("missing required option: %q", need)
			}
		}
	}
	return nil
}

// sameOptions treats no options and an empty set as the same.
func sameOptions(a, b map[string]string) bool {
	return maps.Equal(a, b)
}

// randomName is an anonymous volume's name, 64 hex digits as Docker's.
func randomName() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("create: random volume name: %w", err)
	}
	return hex.EncodeToString(b), nil
}
