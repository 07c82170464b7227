package containers

import (
	"context"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ContainerRename is POST /containers/{id}/rename.
func (m *Manager) ContainerRename(_ context.Context, name, newName string) error {
	if newName == "" {
		return errdefs.Invalid("Neither old nor new names may be empty")
	}
	c, err := m.get(name)
	if err != nil {
		return err
	}
	newName = strings.TrimPrefix(newName, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.Name
	if old == newName {
		return errdefs.Invalid("Renaming a container with the same name as its current name")
	}
	if err := m.reserveName(newName, c.ID); err != nil {
		return err
	}
	c.Name = newName
	if err := m.save(c); err != nil {
		c.Name = old
		m.releaseName(newName, c.ID)
		return err
	}
	m.releaseName(old, c.ID)
	m.cfg.Events(types.ContainerEventType, "rename", c.ID, map[string]string{"name": newName, "oldName": "/" + old})
	return nil
}
