package containers

import (
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/network"
)

// netnsPath is where the network manager keeps a container's namespace.
func (m *Manager) netnsPath(id string) string { return filepath.Join(m.cfg.ExecRoot, "netns", id) }

// endpointSettings is a network endpoint in the API's shape.
func endpointSettings(ep *network.Endpoint, aliases []string) *types.EndpointSettings {
	return &types.EndpointSettings{
		NetworkID:   ep.NetworkID,
		EndpointID:  ep.EndpointID,
		Gateway:     ep.Gateway,
		IPAddress:   ep.IP,
		IPPrefixLen: ep.PrefixLen,
		MacAddress:  ep.MAC,
		Aliases:     aliases,
	}
}

// networkResource is a network as the API shows it, with the containers
// on it.
func (m *Manager) networkResource(n *network.Network) *types.NetworkResource {
	r := &types.NetworkResource{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		IPAM:       types.IPAM{Driver: "default", Options: map[string]string{}, Config: []types.IPAMConfig{}},
		Internal:   n.Internal,
		Attachable: n.Driver == network.DriverBridge && !n.Predefined(),
		Containers: map[string]types.EndpointResource{},
		Options:    n.Options,
		Labels:     n.Labels,
	}
	if r.Options == nil {
		r.Options = map[string]string{}
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	if n.Subnet != "" {
		r.IPAM.Config = append(r.IPAM.Config, types.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange})
	}
	for _, ep := range m.cfg.Network.NetworkEndpoints(n.ID) {
		addr := ""
		if ep.IP != "" {
			addr = ep.IP + "/" + strconv.Itoa(ep.PrefixLen)
		}
		r.Containers[ep.ContainerID] = types.EndpointResource{
			Name: ep.ContainerName, EndpointID: ep.EndpointID, MacAddress: ep.MAC, IPv4Address: addr,
		}
	}
	return r
}

// NetworkList is GET /networks.
func (m *Manager) NetworkList(_ context.Context, f types.Filters) ([]*types.NetworkResource, error) {
	if err := f.Validate("driver", "id", "label", "label!", "name", "scope", "type", "dangling"); err != nil {
		return nil, err
	}
	for _, t := range f.Get("type") {
		if t != "builtin" && t != "custom" {
			return nil, errdefs.Invalid("invalid filter: 'type'='%s'", t)
		}
	}
	out := []*types.NetworkResource{}
	for _, n := range m.cfg.Network.List() {
		r := m.networkResource(n)
		if !networkMatches(r, n.Predefined(), f) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func networkMatches(r *types.NetworkResource, builtin bool, f types.Filters) bool {
	if v := f.Get("driver"); len(v) > 0 && !anyMatch(v, func(s string) bool { return s == r.Driver }) {
		return false
	}
	if v := f.Get("id"); len(v) > 0 && !anyMatch(v, func(s string) bool { return strings.HasPrefix(r.ID, s) }) {
		return false
	}
	if v := f.Get("name"); len(v) > 0 && !anyMatch(v, func(s string) bool { return strings.Contains(r.Name, s) }) {
		return false
	}
	if v := f.Get("scope"); len(v) > 0 && !anyMatch(v, func(s string) bool { return s == "local" }) {
		return false
	}
	if v := f.Get("type"); len(v) > 0 && !anyMatch(v, func(s string) bool { return (s == "builtin") == builtin }) {
		return false
	}
	if v := f.Get("dangling"); len(v) > 0 {
		dangling := !builtin && len(r.Containers) == 0
		if (v[0] == "true" || v[0] == "1") != dangling {
			return false
		}
	}
	return labelsMatch(r.Labels, f.Get("label"), true) && labelsMatch(r.Labels, f.Get("label!"), false)
}

// NetworkInspect is GET /networks/{id}.
func (m *Manager) NetworkInspect(_ context.Context, idOrName string) (*types.NetworkResource, error) {
	n, err := m.cfg.Network.Get(idOrName)
	if err != nil {
		return nil, err
	}
	return m.networkResource(n), nil
}

// NetworkCreate is POST /networks/create.
func (m *Manager) NetworkCreate(ctx context.Context, req *types.NetworkCreateRequest) (*types.NetworkCreateResponse, error) {
	if req.Name == "" {
		return nil, errdefs.Invalid("network name must not be empty")
	}
	if req.EnableIPv6 {
		return nil, errdefs.Invalid("IPv6 networks are not supported by xmgr")
	}
	cr := network.CreateRequest{
		Name: req.Name, Driver: req.Driver, Internal: req.Internal,
		Labels: req.Labels, Options: req.Options, CheckDuplicate: req.CheckDuplicate,
	}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return nil, errdefs.Invalid("IPAM driver %q is not supported: only the default one", req.IPAM.Driver)
		}
		if len(req.IPAM.Config) > 1 {
			return nil, errdefs.Invalid("a network takes one IPv4 subnet here, got %d", len(req.IPAM.Config))
		}
		if len(req.IPAM.Config) == 1 {
			c := req.IPAM.Config[0]
			cr.Subnet, cr.Gateway, cr.IPRange = c.Subnet, c.Gateway, c.IPRange
		}
	}
	n, err := m.cfg.Network.Create(ctx, cr)
	if err != nil {
		return nil, err
	}
	m.cfg.Events(types.NetworkEventType, "create", n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return &types.NetworkCreateResponse{ID: n.ID}, nil
}

// NetworkRemove is DELETE /networks/{id}.
func (m *Manager) NetworkRemove(ctx context.Context, idOrName string) error {
	n, err := m.cfg.Network.Get(idOrName)
	if err != nil {
		return err
	}
	// Stopped containers that name the network keep it too, as Docker's
	// endpoints of stopped containers do not exist but their configs do.
	if err := m.cfg.Network.Remove(ctx, n.ID); err != nil {
		return err
	}
	m.cfg.Events(types.NetworkEventType, "destroy", n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return nil
}

// NetworksPrune is POST /networks/prune: user networks without endpoints.
func (m *Manager) NetworksPrune(ctx context.Context, f types.Filters) (*types.NetworksPruneReport, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	rep := &types.NetworksPruneReport{NetworksDeleted: []string{}}
	for _, n := range m.cfg.Network.List() {
		if n.Predefined() || len(m.cfg.Network.NetworkEndpoints(n.ID)) > 0 ||
			!labelsMatch(n.Labels, f.Get("label"), true) || !labelsMatch(n.Labels, f.Get("label!"), false) ||
			m.networkNamedByContainer(n) {
			continue
		}
		if vs := f.Get("until"); len(vs) > 0 {
			until, err := parseUntil(vs[0], n.Created)
			if err != nil {
				return nil, err
			}
			if !n.Created.Before(until) {
				continue
			}
		}
		if err := m.cfg.Network.Remove(ctx, n.ID); err != nil {
			continue
		}
		m.cfg.Events(types.NetworkEventType, "destroy", n.ID, map[string]string{"name": n.Name, "type": n.Driver})
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	return rep, nil
}

// networkNamedByContainer: some container (running or not) is configured
// for the network.
func (m *Manager) networkNamedByContainer(n *network.Network) bool {
	for _, c := range m.list() {
		c.mu.Lock()
		_, byName := c.Networks[n.Name]
		c.mu.Unlock()
		if byName {
			return true
		}
	}
	return false
}

// NetworkConnect is POST /networks/{id}/connect: a running container gets
// the interface at once, a stopped one when it starts.
func (m *Manager) NetworkConnect(ctx context.Context, idOrName, container string, ep *types.EndpointSettings) error {
	n, err := m.cfg.Network.Get(idOrName)
	if err != nil {
		return err
	}
	c, err := m.get(container)
	if err != nil {
		return err
	}
	if n.Driver != network.DriverBridge {
		return errdefs.Invalid("container cannot be disconnected from host network or connected to host network")
	}
	c.mu.Lock()
	if mode := c.HostConfig.NetworkMode; mode == "host" || mode == "none" {
		c.mu.Unlock()
		return errdefs.Invalid("container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if _, ok := c.Networks[n.Name]; ok {
		c.mu.Unlock()
		return errdefs.Conflict("endpoint with name %s already exists in network %s", c.Name, n.Name)
	}
	var aliases []string
	if ep != nil {
		aliases = ep.Aliases
	}
	settings := &types.EndpointSettings{NetworkID: n.ID, Aliases: aliases}
	if ep != nil && ep.IPAMConfig != nil {
		settings.IPAMConfig = ep.IPAMConfig
	}
	running := c.State.Running()
	if running {
		got, err := m.cfg.Network.Connect(ctx, n.Name, c.NetNSPath, network.EndpointConfig{
			ContainerID: c.ID, ContainerName: c.Name, Aliases: aliases,
		})
		if err != nil {
			c.mu.Unlock()
			return err
		}
		settings = endpointSettings(got, aliases)
	}
	if c.Networks == nil {
		c.Networks = map[string]*types.EndpointSettings{}
	}
	c.Networks[n.Name] = settings
	err = m.save(c)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if running {
		m.updateHosts(c, n.Name)
	}
	m.cfg.Events(types.NetworkEventType, "connect", n.ID, map[string]string{"name": n.Name, "type": n.Driver, "container": c.ID})
	return nil
}

// NetworkDisconnect is POST /networks/{id}/disconnect.
func (m *Manager) NetworkDisconnect(ctx context.Context, idOrName, container string, force bool) error {
	n, err := m.cfg.Network.Get(idOrName)
	if err != nil {
		return err
	}
	c, err := m.get(container)
	if err != nil {
		if force && errdefs.IsNotFound(err) {
			// A container gone without its endpoint: drop the endpoint.
			return m.cfg.Network.Disconnect(ctx, n.Name, container, "")
		}
		return err
	}
	c.mu.Lock()
	if _, ok := c.Networks[n.Name]; !ok {
		c.mu.Unlock()
		return errdefs.Invalid("container %s is not connected to network %s", c.ID[:12], n.Name)
	}
	running := c.State.Running()
	if running {
		if err := m.cfg.Network.Disconnect(ctx, n.Name, c.ID, c.NetNSPath); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	delete(c.Networks, n.Name)
	err = m.save(c)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if running {
		m.updateHosts(c, n.Name)
	}
	m.cfg.Events(types.NetworkEventType, "disconnect", n.ID, map[string]string{"name": n.Name, "type": n.Driver, "container": c.ID})
	return nil
}

// updateHosts rewrites the hosts file of a running container that joined
// or left network, and those of its peers there.
func (m *Manager) updateHosts(c *Container, network string) {
	m.hostsMu.Lock()
	err := m.writeHosts(c)
	m.hostsMu.Unlock()
	if err != nil {
		m.log.Warn("rewriting a hosts file", "id", c.ID, "err", err)
	}
	m.refreshPeers(c.ID, []string{network})
}
