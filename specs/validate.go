package specs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// FieldError is a config.json field that a runtime must refuse. Field is
// the path of the field as it is written in the JSON document, e.g.
// "linux.namespaces[2].type".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate returns the first thing in s that the runtime spec or runc
// refuses, as a *FieldError naming the field in one line. Relative root
// paths are taken relative to bundleDir. Validate looks at the host only
// where the config names host objects: the root directory, namespace
// paths, and whether SELinux is enabled when a label is given.
func Validate(s *rspec.Spec, bundleDir string) error {
	if s == nil {
		return errors.New("config.json: no config")
	}
	checks := [...]func(*rspec.Spec, string) error{
		checkVersion,
		checkRoot,
		checkProcess,
		checkHooks,
		checkMounts,
		checkLinux,
	}
	for _, check := range checks {
		if err := check(s, bundleDir); err != nil {
			return err
		}
	}
	return nil
}

func checkVersion(s *rspec.Spec, _ string) error {
	if s.Version == "" {
		return fieldErr("ociVersion", "must not be empty")
	}
	if major, _, _ := strings.Cut(s.Version, "."); major != "1" {
		return fieldErr("ociVersion", "%q is not supported (major version must be 1)", s.Version)
	}
	return nil
}

// RootfsPath returns the container's root directory on the host:
// root.path, taken relative to bundleDir when it is relative.
func RootfsPath(s *rspec.Spec, bundleDir string) string {
	if s == nil || s.Root == nil {
		return ""
	}
	if filepath.IsAbs(s.Root.Path) {
		return filepath.Clean(s.Root.Path)
	}
	p := filepath.Join(bundleDir, s.Root.Path)
	if !filepath.IsAbs(p) {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
	}
	return p
}

func checkRoot(s *rspec.Spec, bundleDir string) error {
	if s.Root == nil {
		return fieldErr("root", "required")
	}
	if s.Root.Path == "" {
		return fieldErr("root.path", "must not be empty")
	}
	p := RootfsPath(s, bundleDir)
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FieldError{"root.path", &causeError{p + ": no such directory", err}}
	case err != nil:
		return &FieldError{"root.path", err}
	case !fi.IsDir():
		return fieldErr("root.path", "%s: not a directory", p)
	}
	return nil
}

func checkHooks(s *rspec.Spec, _ string) error {
	h := s.Hooks
	if h == nil {
		return nil
	}
	//lint:ignore SA1019 prestart hooks are deprecated but still run, so they are checked
	lists := [...][]rspec.Hook{h.Prestart, h.CreateRuntime, h.CreateContainer, h.StartContainer, h.Poststart, h.Poststop}
	for k, list := range lists {
		for i, hook := range list {
			if !filepath.IsAbs(hook.Path) {
				return fieldErr(fmt.Sprintf("hooks.%s[%d].path", hookNames[k], i), "must be an absolute path, got %q", hook.Path)
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return fieldErr(fmt.Sprintf("hooks.%s[%d].timeout", hookNames[k], i), "must be greater than zero, got %d", *hook.Timeout)
			}
		}
	}
	return nil
}

func checkMounts(s *rspec.Spec, _ string) error {
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if m.Destination == "" {
			return fieldErr(fmt.Sprintf("mounts[%d].destination", i), "must not be empty")
		}
		if !filepath.IsAbs(m.Destination) {
			return fieldErr(fmt.Sprintf("mounts[%d].destination", i), "must be an absolute path, got %q", m.Destination)
		}
		bind, idmap := m.Type == "bind", false
		for _, o := range m.Options {
			switch o {
			case "bind", "rbind":
				bind = true
			case "idmap", "ridmap":
				idmap = true
			}
		}
		if bind && m.Source == "" {
			return fieldErr(fmt.Sprintf("mounts[%d].source", i), "required for a bind mount")
		}
		if len(m.UIDMappings) > 0 && len(m.GIDMappings) == 0 {
			return fieldErr(fmt.Sprintf("mounts[%d].gidMappings", i), "required with uidMappings")
		}
		if len(m.GIDMappings) > 0 && len(m.UIDMappings) == 0 {
			return fieldErr(fmt.Sprintf("mounts[%d].uidMappings", i), "required with gidMappings")
		}
		if len(m.UIDMappings) > 0 {
			idmap = true
			if err := checkMappings(fmt.Sprintf("mounts[%d].uidMappings", i), m.UIDMappings); err != nil {
				return err
			}
			if err := checkMappings(fmt.Sprintf("mounts[%d].gidMappings", i), m.GIDMappings); err != nil {
				return err
			}
		}
		// The kernel can only idmap a detached copy of an existing tree.
		if idmap && !bind {
			return fieldErr(fmt.Sprintf("mounts[%d].options", i), "an idmapped mount must be a bind mount")
		}
	}
	return nil
}

// maxMappings is the kernel's limit of lines in uid_map and gid_map.
const maxMappings = 340

// checkMappings checks what the kernel would refuse when writing a
// uid_map or gid_map: empty or overflowing ranges, overlaps, too many lines.
func checkMappings(field string, maps []rspec.LinuxIDMapping) error {
	if len(maps) > maxMappings {
		return fieldErr(field, "%d entries, the kernel allows at most %d", len(maps), maxMappings)
	}
	for i, m := range maps {
		if m.Size == 0 {
			return fieldErr(fmt.Sprintf("%s[%d].size", field, i), "must be greater than zero")
		}
		if uint64(m.ContainerID)+uint64(m.Size) > 1<<32 || uint64(m.HostID)+uint64(m.Size) > 1<<32 {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), "range overflows 32-bit ids")
		}
		for j := range i {
			if overlaps(maps[j].ContainerID, maps[j].Size, m.ContainerID, m.Size) {
				return fieldErr(fmt.Sprintf("%s[%d].containerID", field, i), "range overlaps entry %d", j)
			}
			if overlaps(maps[j].HostID, maps[j].Size, m.HostID, m.Size) {
				return fieldErr(fmt.Sprintf("%s[%d].hostID", field, i), "range overlaps entry %d", j)
			}
		}
	}
	return nil
}

func overlaps(a, asize, b, bsize uint32) bool {
	return uint64(a) < uint64(b)+uint64(bsize) && uint64(b) < uint64(a)+uint64(asize)
}

// mapped reports whether id is inside one of the container ranges.
func mapped(maps []rspec.LinuxIDMapping, id uint32) bool {
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return true
		}
	}
	return false
}

// ErrInvalidID is wrapped by the errors of ValidateID.
var ErrInvalidID = errors.New("invalid container id")

// maxIDLen bounds an id, which becomes a directory name and appears in
// cgroup paths.
const maxIDLen = 1024

// ValidateID checks a container id as runc does: 1 to 1024 characters
// from [A-Za-z0-9_+.-], and not "." or "..".
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: must not be empty", ErrInvalidID)
	case len(id) > maxIDLen:
		return fmt.Errorf("%w: %d characters, at most %d are allowed", ErrInvalidID, len(id), maxIDLen)
	case id == "." || id == "..":
		return fmt.Errorf("%w %q", ErrInvalidID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '+' || c == '-' || c == '.'
		if !ok {
			return fmt.Errorf("%w %q: character %q is not allowed (only letters, digits, _ + - .)", ErrInvalidID, id, c)
		}
	}
	return nil
}
