package containers

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// timeString formats a time as Docker's inspect does; the zero time is
// "0001-01-01T00:00:00Z", which clients read as "never".
func timeString(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// ContainerInspect is GET /containers/{id}/json.
func (m *Manager) ContainerInspect(_ context.Context, name string, size bool) (*types.ContainerJSON, error) {
	c, err := m.get(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	j := &types.ContainerJSON{
		ID:      c.ID,
		Created: timeString(c.Created),
		Path:    c.Path,
		Args:    nonNil(c.Args),
		State: &types.ContainerState{
			Status:     c.State.Status,
			Running:    c.State.Running(),
			Paused:     c.State.Status == types.StatePaused,
			Restarting: c.State.Status == types.StateRestarting,
			OOMKilled:  c.State.OOMKilled,
			Dead:       c.State.Status == types.StateDead,
			Pid:        c.State.Pid,
			ExitCode:   c.State.ExitCode,
			Error:      c.State.Error,
			StartedAt:  timeString(c.State.StartedAt),
			FinishedAt: timeString(c.State.FinishedAt),
			Health:     c.State.Health,
		},
		Image:           c.ImageID,
		ResolvConfPath:  c.ResolvConfPath,
		HostnamePath:    c.HostnamePath,
		HostsPath:       c.HostsPath,
		LogPath:         c.LogPath,
		Name:            "/" + c.Name,
		RestartCount:    c.RestartCount,
		Driver:          c.Driver,
		Platform:        "linux",
		HostConfig:      c.HostConfig,
		GraphDriver:     types.GraphDriverData{Name: c.Driver, Data: m.graphDriverData(c)},
		Mounts:          mountPoints(c),
		Config:          c.Config,
		NetworkSettings: m.networkSettings(c),
	}
	if size {
		rw, rootfs := m.sizes(c)
		j.SizeRw, j.SizeRootFs = &rw, &rootfs
	}
	return j, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// graphDriverData shows where the container's layers are, as Docker's
// overlay2 driver does.
func (m *Manager) graphDriverData(c *Container) map[string]string {
	data := map[string]string{}
	ms, err := m.cfg.Layers.Snapshotter().Mounts(c.SnapshotKey)
	if err != nil || len(ms) == 0 {
		return data
	}
	names := map[string]string{"lowerdir": "LowerDir", "upperdir": "UpperDir", "workdir": "WorkDir"}
	for _, o := range ms[0].Options {
		if k, v, ok := strings.Cut(o, "="); ok && names[k] != "" {
			data[names[k]] = v
		}
	}
	return data
}

// sizes are the container's own bytes and those plus its image's.
func (m *Manager) sizes(c *Container) (rw, rootfs int64) {
	rw, _ = m.cfg.Layers.Snapshotter().Usage(c.SnapshotKey)
	rootfs = rw
	if img, err := m.cfg.Images.Resolve(c.ImageID); err == nil {
		rootfs += img.Size
	}
	return rw, rootfs
}

func mountPoints(c *Container) []types.MountPoint {
	out := make([]types.MountPoint, 0, len(c.MountPoints))
	for _, mp := range c.MountPoints {
		p := types.MountPoint{
			Type: mp.Type, Name: mp.Name, Source: mp.Source, Destination: mp.Destination,
			RW: mp.RW, Propagation: mp.Propagation,
		}
		if mp.Type == "volume" {
			p.Driver = "local"
			p.Mode = "z"
			if !mp.RW {
				p.Mode = "ro"
			}
		} else if !mp.RW {
			p.Mode = "ro"
		}
		if mp.Type == "bind" && p.Propagation == "" {
			p.Propagation = "rprivate"
		}
		out = append(out, p)
	}
	return out
}

// networkSettings is inspect's NetworkSettings: the endpoints, with the
// default bridge's repeated at the top level as Docker does.
func (m *Manager) networkSettings(c *Container) *types.NetworkSettings {
	ns := &types.NetworkSettings{
		Ports:    portMap(c),
		Networks: map[string]*types.EndpointSettings{},
	}
	for name, ep := range c.Networks {
		cp := *ep
		ns.Networks[name] = &cp
	}
	if c.NetNSPath != "" {
		ns.SandboxKey = c.NetNSPath
		ns.SandboxID = c.ID
	}
	if ep, ok := c.Networks["bridge"]; ok {
		if n, err := m.cfg.Network.Get("bridge"); err == nil {
			ns.Bridge = n.Bridge
		}
		ns.EndpointID = ep.EndpointID
		ns.Gateway = ep.Gateway
		ns.IPAddress = ep.IPAddress
		ns.IPPrefixLen = ep.IPPrefixLen
		ns.MacAddress = ep.MacAddress
	}
	return ns
}

// portMap is the container's exposed ports with their host bindings
// while it runs (nil bindings for exposed, unpublished ports).
func portMap(c *Container) types.PortMap {
	pm := types.PortMap{}
	for p := range c.Config.ExposedPorts {
		pm[p] = nil
	}
	if c.State.Running() {
		for p, b := range c.Ports {
			pm[p] = b
		}
	}
	return pm
}

// statusString is ps's STATUS column, in Docker's words.
func statusString(c *Container, now time.Time) string {
	s := &c.State
	switch s.Status {
	case types.StateRunning, types.StatePaused:
		out := "Up " + units.HumanDuration(now.Sub(s.StartedAt))
		if s.Status == types.StatePaused {
			return out + " (Paused)"
		}
		if h := s.Health; h != nil {
			switch h.Status {
			case types.HealthStarting:
				out += " (health: starting)"
			case types.Healthy, types.Unhealthy:
				out += " (" + h.Status + ")"
			}
		}
		return out
	case types.StateRestarting:
		return "Restarting (" + strconv.Itoa(s.ExitCode) + ") " + units.HumanDuration(now.Sub(s.FinishedAt)) + " ago"
	case types.StateRemoving:
		return "Removal In Progress"
	case types.StateDead:
		return "Dead"
	case types.StateExited:
		if s.FinishedAt.IsZero() {
			return "Exited (" + strconv.Itoa(s.ExitCode) + ")"
		}
		return "Exited (" + strconv.Itoa(s.ExitCode) + ") " + units.HumanDuration(now.Sub(s.FinishedAt)) + " ago"
	}
	return "Created"
}
