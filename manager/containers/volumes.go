package containers

import (
	"context"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/volumes"
)

// VolumeUsers names the containers (running or not) whose mounts use the
// volume: the volume store asks before a remove or prune.
func (m *Manager) VolumeUsers(name string) []string {
	var ids []string
	for _, c := range m.list() {
		c.mu.Lock()
		for _, mp := range c.MountPoints {
			if mp.Type == "volume" && mp.Name == name {
				ids = append(ids, c.ID)
				break
			}
		}
		c.mu.Unlock()
	}
	return ids
}

func apiVolume(v *volumes.Volume) *types.Volume {
	out := &types.Volume{
		CreatedAt: v.CreatedAt.UTC().Format(time.RFC3339), Driver: v.Driver, Labels: v.Labels,
		Mountpoint: v.Mountpoint, Name: v.Name, Options: v.Options, Scope: v.Scope,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	return out
}

// VolumeList is GET /volumes.
func (m *Manager) VolumeList(_ context.Context, f types.Filters) (*types.VolumeListResponse, error) {
	if err := f.Validate("dangling", "driver", "label", "label!", "name"); err != nil {
		return nil, err
	}
	dangling, err := boolFilterValue(f, "dangling")
	if err != nil {
		return nil, err
	}
	out := &types.VolumeListResponse{Volumes: []*types.Volume{}, Warnings: []string{}}
	for _, v := range m.cfg.Volumes.List() {
		if ds := f.Get("driver"); len(ds) > 0 && !anyMatch(ds, func(d string) bool { return d == v.Driver }) {
			continue
		}
		if ns := f.Get("name"); len(ns) > 0 && !anyMatch(ns, func(n string) bool { return strings.Contains(v.Name, n) }) {
			continue
		}
		if !labelsMatch(v.Labels, f.Get("label"), true) || !labelsMatch(v.Labels, f.Get("label!"), false) {
			continue
		}
		if dangling != nil && (len(m.cfg.Volumes.Users(v.Name)) == 0) != *dangling {
			continue
		}
		out.Volumes = append(out.Volumes, apiVolume(v))
	}
	return out, nil
}

func boolFilterValue(f types.Filters, key string) (*bool, error) {
	vs := f.Get(key)
	if len(vs) == 0 {
		return nil, nil
	}
	var b bool
	switch vs[0] {
	case "true", "1":
		b = true
	case "false", "0":
	default:
		return nil, errdefs.Invalid("invalid filter '%s=%s'", key, vs[0])
	}
	return &b, nil
}

// VolumeInspect is GET /volumes/{name}.
func (m *Manager) VolumeInspect(_ context.Context, name string) (*types.Volume, error) {
	v, err := m.cfg.Volumes.Get(name)
	if err != nil {
		return nil, err
	}
	return apiVolume(v), nil
}

// VolumeCreate is POST /volumes/create.
func (m *Manager) VolumeCreate(_ context.Context, req *types.VolumeCreateRequest) (*types.Volume, error) {
	v, err := m.cfg.Volumes.Create(req.Name, req.Driver, req.DriverOpts, req.Labels)
	if err != nil {
		return nil, err
	}
	m.cfg.Events(types.VolumeEventType, "create", v.Name, map[string]string{"driver": v.Driver})
	return apiVolume(v), nil
}

// VolumeRemove is DELETE /volumes/{name}.
func (m *Manager) VolumeRemove(_ context.Context, name string, force bool) error {
	if err := m.cfg.Volumes.Remove(name, force); err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	m.cfg.Events(types.VolumeEventType, "destroy", name, map[string]string{"driver": "local"})
	return nil
}

// VolumesPrune is POST /volumes/prune.
func (m *Manager) VolumesPrune(_ context.Context, f types.Filters) (*types.VolumesPruneReport, error) {
	if err := f.Validate("label", "label!"); err != nil {
		return nil, err
	}
	var lf []volumes.LabelFilter
	for _, l := range f.Get("label") {
		lf = append(lf, volumes.ParseLabelFilter(l, false))
	}
	for _, l := range f.Get("label!") {
		lf = append(lf, volumes.ParseLabelFilter(l, true))
	}
	deleted, reclaimed, err := m.cfg.Volumes.Prune(lf...)
	for _, name := range deleted {
		m.cfg.Events(types.VolumeEventType, "destroy", name, map[string]string{"driver": "local"})
	}
	if deleted == nil {
		deleted = []string{}
	}
	return &types.VolumesPruneReport{VolumesDeleted: deleted, SpaceReclaimed: reclaimed}, err
}
