package containers

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// listFilters are the filters GET /containers/json takes.
var listFilters = []string{
	"id", "name", "label", "label!", "status", "exited", "health", "ancestor",
	"before", "since", "network", "volume", "publish", "expose", "is-task",
}

var validStatus = map[string]bool{
	types.StateCreated: true, types.StateRunning: true, types.StatePaused: true,
	types.StateRestarting: true, types.StateRemoving: true, types.StateExited: true, types.StateDead: true,
}

// ContainerList is GET /containers/json: newest first, as Docker.
func (m *Manager) ContainerList(_ context.Context, o server.ContainerListOptions) ([]*types.ContainerSummary, error) {
	f := o.Filters
	if err := f.Validate(listFilters...); err != nil {
		return nil, err
	}
	for _, s := range f.Get("status") {
		if !validStatus[s] {
			return nil, errdefs.Invalid("invalid filter 'status=%s'", s)
		}
	}
	for _, h := range f.Get("health") {
		switch h {
		case types.HealthStarting, types.Healthy, types.Unhealthy, types.HealthNone:
		default:
			return nil, errdefs.Invalid("Unrecognised filter value for health: %s", h)
		}
	}
	var exited []int
	for _, e := range f.Get("exited") {
		n, err := strconv.Atoi(e)
		if err != nil {
			return nil, errdefs.Invalid("invalid filter 'exited=%s'", e)
		}
		exited = append(exited, n)
	}
	before, err := m.boundary(f, "before")
	if err != nil {
		return nil, err
	}
	since, err := m.boundary(f, "since")
	if err != nil {
		return nil, err
	}
	all := m.list()
	sort.Slice(all, func(i, j int) bool { return all[i].Created.After(all[j].Created) })
	now := time.Now()
	var out []*types.ContainerSummary
	for _, c := range all {
		c.mu.Lock()
		// A status filter lists stopped containers without -a, as Docker.
		ok := o.All || c.State.Running() || c.State.Status == types.StateRestarting || len(f.Get("status")) > 0
		if ok && !before.IsZero() && !c.Created.Before(before) {
			ok = false
		}
		if ok && !since.IsZero() && !c.Created.After(since) {
			ok = false
		}
		if ok {
			ok = m.matches(c, f, exited)
		}
		var s *types.ContainerSummary
		if ok {
			s = m.summary(c, now, o.Size)
		}
		c.mu.Unlock()
		if s != nil {
			out = append(out, s)
			if o.Limit > 0 && len(out) == o.Limit {
				break
			}
		}
	}
	if out == nil {
		out = []*types.ContainerSummary{}
	}
	return out, nil
}

// boundary is the creation time of the container a before/since filter
// names.
func (m *Manager) boundary(f types.Filters, key string) (time.Time, error) {
	vs := f.Get(key)
	if len(vs) == 0 {
		return time.Time{}, nil
	}
	if len(vs) > 1 {
		return time.Time{}, errdefs.Invalid("filter %s takes one value, got %d", key, len(vs))
	}
	c, err := m.get(vs[0])
	if err != nil {
		return time.Time{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Created, nil
}

// matches applies the filters other than before/since. The caller holds
// c.mu.
func (m *Manager) matches(c *Container, f types.Filters, exited []int) bool {
	if ids := f.Get("id"); len(ids) > 0 && !anyMatch(ids, func(v string) bool { return strings.HasPrefix(c.ID, v) }) {
		return false
	}
	if names := f.Get("name"); len(names) > 0 && !anyMatch(names, func(v string) bool {
		return strings.Contains("/"+c.Name, v) // Docker matches a regexp; a substring covers the common use
	}) {
		return false
	}
	if st := f.Get("status"); len(st) > 0 && !anyMatch(st, func(v string) bool { return v == c.State.Status }) {
		return false
	}
	if len(exited) > 0 {
		if c.State.Status != types.StateExited {
			return false
		}
		hit := false
		for _, e := range exited {
			hit = hit || e == c.State.ExitCode
		}
		if !hit {
			return false
		}
	}
	if hs := f.Get("health"); len(hs) > 0 {
		h := types.HealthNone
		if c.State.Health != nil {
			h = c.State.Health.Status
		}
		if !anyMatch(hs, func(v string) bool { return v == h }) {
			return false
		}
	}
	if !labelsMatch(c.Config.Labels, f.Get("label"), true) || !labelsMatch(c.Config.Labels, f.Get("label!"), false) {
		return false
	}
	if anc := f.Get("ancestor"); len(anc) > 0 && !anyMatch(anc, func(v string) bool { return m.descends(c, v) }) {
		return false
	}
	if nets := f.Get("network"); len(nets) > 0 && !anyMatch(nets, func(v string) bool {
		for name, ep := range c.Networks {
			if name == v || ep.NetworkID != "" && strings.HasPrefix(ep.NetworkID, v) {
				return true
			}
		}
		return false
	}) {
		return false
	}
	if vols := f.Get("volume"); len(vols) > 0 && !anyMatch(vols, func(v string) bool {
		for _, mp := range c.MountPoints {
			if mp.Name == v || mp.Destination == v || mp.Source == v {
				return true
			}
		}
		return false
	}) {
		return false
	}
	if ps := f.Get("publish"); len(ps) > 0 && !anyMatch(ps, func(v string) bool {
		for p, bs := range c.Ports {
			for _, b := range bs {
				if b.HostPort == v || b.HostPort+"/"+protoOf(p) == withProto(v) {
					return true
				}
			}
		}
		return false
	}) {
		return false
	}
	if es := f.Get("expose"); len(es) > 0 && !anyMatch(es, func(v string) bool {
		_, ok := c.Config.ExposedPorts[withProto(v)]
		return ok
	}) {
		return false
	}
	if t := f.Get("is-task"); len(t) > 0 && t[0] == "true" {
		return false // no swarm tasks here
	}
	return true
}

func anyMatch(vs []string, fn func(string) bool) bool {
	for _, v := range vs {
		if fn(v) {
			return true
		}
	}
	return false
}

// labelsMatch: every "k" or "k=v" holds (want) or none does (!want).
func labelsMatch(labels map[string]string, fs []string, want bool) bool {
	for _, f := range fs {
		k, v, hasV := strings.Cut(f, "=")
		got, ok := labels[k]
		hit := ok && (!hasV || got == v)
		if hit != want {
			return false
		}
	}
	return true
}

func protoOf(port string) string {
	if _, p, ok := strings.Cut(port, "/"); ok {
		return p
	}
	return "tcp"
}

func withProto(port string) string {
	if strings.Contains(port, "/") {
		return port
	}
	return port + "/tcp"
}

// descends reports whether the container's image is ref or was built on
// it (its layers start with ref's).
func (m *Manager) descends(c *Container, ref string) bool {
	img, err := m.cfg.Images.Resolve(ref)
	if err != nil {
		return false
	}
	if img.ID.String() == c.ImageID {
		return true
	}
	mine, err := m.cfg.Images.Resolve(c.ImageID)
	if err != nil || len(img.Layers) == 0 || len(mine.Layers) < len(img.Layers) {
		return false
	}
	return mine.Layers[len(img.Layers)-1] == img.Layers[len(img.Layers)-1]
}

// summary is the container as ps lists it. The caller holds c.mu.
func (m *Manager) summary(c *Container, now time.Time, size bool) *types.ContainerSummary {
	s := &types.ContainerSummary{
		ID:      c.ID,
		Names:   []string{"/" + c.Name},
		Image:   c.Image,
		ImageID: c.ImageID,
		Command: strings.TrimSpace(c.Path + " " + strings.Join(c.Args, " ")),
		Created: c.Created.Unix(),
		Ports:   summaryPorts(c),
		Labels:  c.Config.Labels,
		State:   c.State.Status,
		Status:  statusString(c, now),
		NetworkSettings: &types.SummaryNetworkSettings{
			Networks: map[string]*types.EndpointSettings{},
		},
		Mounts: mountPoints(c),
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = c.HostConfig.NetworkMode
	for name, ep := range c.Networks {
		cp := *ep
		s.NetworkSettings.Networks[name] = &cp
	}
	if size {
		s.SizeRw, s.SizeRootFs = m.sizes(c)
	}
	return s
}

// summaryPorts lists exposed and published ports, sorted as Docker's CLI
// expects them (by private port).
func summaryPorts(c *Container) []types.Port {
	out := []types.Port{}
	for p, bs := range portMap(c) {
		num, proto, _ := strings.Cut(p, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if len(bs) == 0 {
			out = append(out, types.Port{PrivatePort: uint16(n), Type: proto})
			continue
		}
		for _, b := range bs {
			hp, _ := strconv.Atoi(b.HostPort)
			ip := b.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, types.Port{IP: ip, PrivatePort: uint16(n), PublicPort: uint16(hp), Type: proto})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].PublicPort < out[j].PublicPort
	})
	return out
}

// Counts are the numbers /info reports.
func (m *Manager) Counts() (total, running, paused, stopped int) {
	for _, c := range m.list() {
		c.mu.Lock()
		switch c.State.Status {
		case types.StateRunning, types.StateRestarting:
			running++
		case types.StatePaused:
			paused++
		default:
			stopped++
		}
		c.mu.Unlock()
		total++
	}
	return
}

// ImageUser reports a container that uses image id, and whether it runs:
// the image service refuses to remove such an image.
func (m *Manager) ImageUser(id string) (container string, running bool) {
	for _, c := range m.list() {
		c.mu.Lock()
		uses, live := c.ImageID == id, c.State.Running() || c.State.Status == types.StateRestarting
		cid := c.ID
		c.mu.Unlock()
		if uses && (container == "" || live) {
			container, running = cid, live
			if live {
				return
			}
		}
	}
	return
}
