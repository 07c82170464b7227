// Package volumes keeps xmgr's named local volumes, as Docker's "local"
// volume driver does: each volume is a directory <root>/<name>/_data that
// containers bind-mount, optionally backed by a file system (tmpfs, a bind
// of a host directory, NFS...) that is mounted there while containers use
// it. Each volume's metadata is one file, <root>/<name>/volume.json,
// written once at create; a volume appears and disappears by renaming its
// whole directory, so a crash leaves either the volume or nothing.
package volumes

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Volume is what `volume inspect` shows.
type Volume struct {
	Name       string
	Driver     string // always "local"
	Mountpoint string // <root>/<name>/_data: what containers bind-mount
	Scope      string // always "local"
	CreatedAt  time.Time
	Labels     map[string]string
	Options    map[string]string // the local driver's type, device and o
}

const (
	driverLocal = "local"
	dataDir     = "_data"
	recordFile  = "volume.json"
	// Directories whose names start with a dot are never volumes (a volume
	// name starts with a letter or digit): they are creates and removes in
	// progress, and leftovers of those cut short by a crash.
	creatingPrefix = ".creating-"
	removingPrefix = ".removing-"
)

// record is volume.json. The mount point is not kept: it follows the root.
type record struct {
	Name      string            `json:"name"`
	Driver    string            `json:"driver"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
}

// Store holds the volumes under one root. It is safe for concurrent use.
type Store struct {
	root string

	mu      sync.Mutex
	volumes map[string]*Volume
	mounts  map[string]*mountState // volumes that containers have mounted
	users   func(name string) []string
}

// mountState counts, for one volume, the mounts of each container, and
// whether the volume's own file system (Options) is mounted on _data.
type mountState struct {
	refs    map[string]int
	mounted bool
}

// New opens the store at root (<data-root>/volumes), creating it if
// needed, and loads the volumes found there. Leftovers of creates and
// removes cut short are deleted. A volume whose file system is still
// mounted (the daemon restarted while containers ran) is known as mounted:
// the containers package calls Mount again for each running container that
// uses it, so that the counts are right again.
func New(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("volumes root: %w", err)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("volumes root: %w", err)
	}
	s := &Store{root: root, volumes: map[string]*Volume{}, mounts: map[string]*mountState{}}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("volumes root: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			if err := removeTree(filepath.Join(root, name)); err != nil {
				return nil, fmt.Errorf("cleaning up %s: %w", filepath.Join(root, name), err)
			}
			continue
		}
		if !e.IsDir() || validateName(name) != nil {
			continue
		}
		v, err := s.load(name)
		if err != nil {
			return nil, err
		}
		s.volumes[name] = v
		if len(v.Options) > 0 {
			mounted, err := mountinfo.Mounted(v.Mountpoint)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", name, err)
			}
			if mounted {
				s.mounts[name] = &mountState{refs: map[string]int{}, mounted: true}
			}
		}
	}
	return s, nil
}

// load reads one volume's directory. A directory without volume.json (made
// by hand, as Docker allows) is a plain local volume created when the
// directory was.
func (s *Store) load(name string) (*Volume, error) {
	dir := filepath.Join(s.root, name)
	v := &Volume{Name: name, Driver: driverLocal, Scope: driverLocal, Mountpoint: filepath.Join(dir, dataDir)}
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", name, err)
		}
		v.CreatedAt = fi.ModTime()
		if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
			return nil, fmt.Errorf("volume %s: %w", name, err)
		}
		return v, nil
	case err != nil:
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("volume %s: %s: %w", name, filepath.Join(dir, recordFile), err)
	}
	v.CreatedAt, v.Labels, v.Options = r.CreatedAt, r.Labels, r.Options
	return v, nil
}

// SetUsers tells the store who uses a volume: users(name) returns the IDs
// of the containers (running or not) that refer to it. Remove and Prune
// spare a volume with users. The store calls users without holding its
// lock, so users may call the store.
func (s *Store) SetUsers(users func(name string) []string) {
	s.mu.Lock()
	s.users = users
	s.mu.Unlock()
}

// Get returns the volume called name.
func (s *Store) Get(name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[name]
	if !ok {
		return nil, noSuchVolume(name)
	}
	return clone(v), nil
}

// List returns all volumes, sorted by name.
func (s *Store) List() []*Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Volume, 0, len(s.volumes))
	for _, v := range s.volumes {
		out = append(out, clone(v))
	}
	slices.SortFunc(out, func(a, b *Volume) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Users returns the IDs of the containers that use the volume: those the
// users function (SetUsers) names and those that have it mounted, sorted.
// `volume ls --filter dangling=true` and `system df` count them.
func (s *Store) Users(name string) []string {
	fromContainers := s.usersFunc()(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usersLocked(name, fromContainers)
}

func (s *Store) usersFunc() func(string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		return func(string) []string { return nil }
	}
	return s.users
}

func (s *Store) usersLocked(name string, fromContainers []string) []string {
	ids := slices.Clone(fromContainers)
	if st := s.mounts[name]; st != nil {
		for id := range st.refs {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func noSuchVolume(name string) error {
	return errdefs.NotFound("get %s: no such volume", name)
}

func clone(v *Volume) *Volume {
	c := *v
	c.Labels = maps.Clone(v.Labels)
	c.Options = maps.Clone(v.Options)
	return &c
}
