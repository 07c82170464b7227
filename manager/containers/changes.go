package containers

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/layers"
)

// ContainerChanges lists what the container changed in its root file
// system (docker diff): A added, C changed, D deleted, as Docker reports
// them. The layer store computes them (Store.Changes), leaving out what
// Docker keeps in a container's init layer.
func (m *Manager) ContainerChanges(ctx context.Context, name string) ([]types.ContainerChange, error) {
	c, err := m.get(name)
	if err != nil {
		return nil, err
	}
	if m.cfg.Layers == nil {
		return nil, errors.New("no layer store")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changes, err := m.cfg.Layers.Changes(ctx, c.SnapshotKey, digest.Digest(c.ChainID))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	return containerChanges(changes), nil
}

// containerChanges converts the layer store's changes to the API's.
func containerChanges(cs []layers.Change) []types.ContainerChange {
	out := make([]types.ContainerChange, len(cs))
	for i, ch := range cs {
		out[i] = types.ContainerChange{Kind: uint8(ch.Kind), Path: ch.Path}
	}
	return out
}

// overlayChanges and treeChanges are the layer store's directory-level
// diffs in the API's form (the unit tests here use them).
func overlayChanges(upper string, lowers []string) ([]types.ContainerChange, error) {
	cs, err := layers.OverlayChanges(upper, lowers)
	return containerChanges(cs), err
}

func treeChanges(lower, upper string) ([]types.ContainerChange, error) {
	cs, err := layers.CopyChanges(lower, upper)
	return containerChanges(cs), err
}
