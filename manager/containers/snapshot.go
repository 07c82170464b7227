package containers

import (
	"github.com/opencontainers/go-digest"
)

// ContainerSnapshot names the container's writable snapshot in the layer
// store and the image layer it sits on: what a build step's layer is
// taken from (layers.Store.Diff).
func (m *Manager) ContainerSnapshot(name string) (key string, parent digest.Digest, err error) {
	c, err := m.get(name)
	if err != nil {
		return "", "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.SnapshotKey, digest.Digest(c.ChainID), nil
}
