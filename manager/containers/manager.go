package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/network"
	"github.com/xrt-dev/xrt/manager/volumes"
)

// Config is what the container service needs from the daemon.
type Config struct {
	DataRoot string // containers/<id>/ holds records, logs, hosts files
	ExecRoot string // containers/<id>/ bundles, shims/<id>/, xrt/, netns/
	// ShimBinary and Runtime: xrt-shim and the runc-compatible runtime
	// ("" = the shim client's defaults: beside the xmgr binary, then PATH).
	ShimBinary, Runtime string
	// InitBinary is --init's init (xmgr-init).
	InitBinary string
	Driver     string // the storage driver's name, for inspect

	Images  *images.Service
	Layers  *layers.Store
	Network *network.Manager
	Volumes *volumes.Store
	// Events publishes an event (the API server's Events.Publish).
	Events func(typ, action, id string, attrs map[string]string)
	Log    *slog.Logger
}

// Manager holds every container and serves the container, exec, network
// and volume backends of the API.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu     sync.RWMutex
	byID   map[string]*Container
	byName map[string]string // name -> id; creates in flight hold theirs too
	execs  map[string]*execProcess
	// hostsMu serializes the rewrites of containers' hosts files when
	// peers join or leave a user network.
	hostsMu sync.Mutex

	// ctx ends when the daemon shuts down: monitors and restart timers
	// stop, containers keep running.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New loads the containers recorded under the data root, finds the running
// ones again through their shims (restore) and applies restart policies.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Events == nil {
		cfg.Events = func(string, string, string, map[string]string) {}
	}
	for _, d := range []string{
		filepath.Join(cfg.DataRoot, "containers"),
		filepath.Join(cfg.ExecRoot, "containers"),
		filepath.Join(cfg.ExecRoot, "shims"),
	} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, err
		}
	}
	m := &Manager{
		cfg: cfg, log: cfg.Log,
		byID: map[string]*Container{}, byName: map[string]string{},
		execs: map[string]*execProcess{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	entries, err := os.ReadDir(filepath.Join(cfg.DataRoot, "containers"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := load(m.dir(e.Name()))
		if err != nil {
			// A create that crashed before its first save leaves a
			// directory without a record; restore removes it.
			m.log.Warn("container record unreadable", "id", e.Name(), "err", err)
			continue
		}
		m.byID[c.ID] = c
		m.byName[c.Name] = c.ID
	}
	if err := m.restore(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Close stops supervising (monitors, restart timers, health checks). The
// containers and their shims keep running, and the next daemon finds them
// again.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// get finds a container by full ID, name (with or without "/") or unique
// ID prefix, as Docker does.
func (m *Manager) get(name string) (*Container, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.getLocked(name)
}

func (m *Manager) getLocked(name string) (*Container, error) {
	if name == "" {
		return nil, errdefs.NotFound("No such container: ")
	}
	if c, ok := m.byID[name]; ok {
		return c, nil
	}
	if id, ok := m.byName[strings.TrimPrefix(name, "/")]; ok {
		return m.byID[id], nil
	}
	var found *Container
	for id, c := range m.byID {
		if strings.HasPrefix(id, name) {
			if found != nil {
				return nil, errdefs.Invalid("multiple IDs found with provided prefix: %s", name)
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFound("No such container: %s", name)
	}
	return found, nil
}

// list returns every container, in no order.
func (m *Manager) list() []*Container {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Container, 0, len(m.byID))
	for _, c := range m.byID {
		out = append(out, c)
	}
	return out
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// reserveName checks name is valid and free and takes it for id.
func (m *Manager) reserveName(name, id string) error {
	if !validName.MatchString(name) {
		return errdefs.Invalid("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	name = strings.TrimPrefix(name, "/")
	m.mu.Lock()
	defer m.mu.Unlock()
	if other, ok := m.byName[name]; ok && other != id {
		return errdefs.Conflict("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, other)
	}
	m.byName[name] = id
	return nil
}

// releaseName frees name if id holds it.
func (m *Manager) releaseName(name, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName[name] == id {
		delete(m.byName, name)
	}
}

// newID is a random 64-hex container ID that no container has as a prefix
// of 12 digits (so short IDs stay unique) and that is not all digits
// (Docker avoids those: they read as numbers).
func (m *Manager) newID() string {
	for {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("reading random bytes: %v", err))
		}
		id := hex.EncodeToString(b[:])
		if strings.Trim(id[:12], "0123456789") == "" {
			continue
		}
		m.mu.RLock()
		clash := false
		for other := range m.byID {
			if other[:12] == id[:12] {
				clash = true
				break
			}
		}
		m.mu.RUnlock()
		if !clash {
			return id
		}
	}
}
