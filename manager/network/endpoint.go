package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// EndpointConfig is what a container brings to a network.
type EndpointConfig struct {
	ContainerID   string
	ContainerName string
	Aliases       []string
	Ports         []PortMapping // only on the first bridge network a container joins, as Docker publishes
}

// Endpoint is a container's attachment to a network.
type Endpoint struct {
	NetworkID     string
	NetworkName   string
	EndpointID    string
	ContainerID   string
	ContainerName string
	Aliases       []string
	IP            string
	PrefixLen     int
	Gateway       string
	MAC           string
	Interface     string // eth0, eth1... in the container; "" on host and none
	Ports         []PortMapping
	NetNS         string // the netns path given to Connect
}

func (e *Endpoint) clone() *Endpoint {
	c := *e
	c.Aliases = append([]string(nil), e.Aliases...)
	c.Ports = append([]PortMapping(nil), e.Ports...)
	return &c
}

func endpointKey(containerID, networkID string) string { return containerID + "/" + networkID }

// containerIDPattern is what CNI accepts as a container ID.
var containerIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// newExec runs the plugins. libcni would make one lazily on first use, which
// races when many goroutines connect at once.
func newExec() invoke.Exec {
	return &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}
}

// Connect attaches the container whose network namespace is netnsPath to a
// network: a CNI ADD for bridge networks, with the interface eth0 for the
// container's first network, eth1 for its second, and so on. On "none" it
// only brings lo up; on "host" it records the endpoint (the container has no
// netns of its own). A failed Connect leaves nothing behind: no veth, no IP,
// no iptables rule, no reserved port.
func (m *Manager) Connect(ctx context.Context, networkName, netnsPath string, ec EndpointConfig) (*Endpoint, error) {
	if !containerIDPattern.MatchString(ec.ContainerID) {
		return nil, errdefs.Invalid("invalid container ID %q", ec.ContainerID)
	}
	if err := validatePorts(ec.Ports); err != nil {
		return nil, err
	}
	m.mu.Lock()
	n, err := m.find(networkName)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	key := endpointKey(ec.ContainerID, n.ID)
	ep, err := m.startConnect(key, n, netnsPath, ec)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.mu.Unlock()

	err = m.attach(ctx, n, ep, key)

	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, key)
	if err != nil {
		m.releasePorts(key)
		return nil, err
	}
	m.endpoints[key] = ep
	return ep.clone(), nil
}

// attach does Connect's work outside m.mu: lo up on "none", CNI ADD on a
// bridge network, the endpoint record, then the published ports' rules. The
// record comes before the rules so that no rule exists without a record to
// remove it by. On failure it undoes what it did.
func (m *Manager) attach(ctx context.Context, n *network, ep *Endpoint, key string) error {
	if n.Driver == DriverNull && ep.NetNS != "" {
		if err := Loopback(ctx, ep.NetNS); err != nil {
			return err
		}
	}
	if n.Driver != DriverBridge {
		return writeJSON(m.endpointPath(key), ep, false)
	}
	if err := m.cniAdd(ctx, n, ep); err != nil {
		return err
	}
	err := writeJSON(m.endpointPath(key), ep, false)
	if err == nil {
		if err = m.publish(n, ep); err != nil {
			os.Remove(m.endpointPath(key))
			err = fmt.Errorf("driver failed programming external connectivity on endpoint %s: %w", ep.ContainerName, err)
		}
	}
	if err != nil {
		if derr := m.cniDel(context.WithoutCancel(ctx), n, ep); derr != nil {
			err = fmt.Errorf("%w (and undoing the CNI ADD: %v)", err, derr)
		}
	}
	return err
}

// startConnect checks that the container may join the network, picks its
// interface name and reserves its ports. The caller holds m.mu.
func (m *Manager) startConnect(key string, n *network, netnsPath string, ec EndpointConfig) (*Endpoint, error) {
	if m.endpoints[key] != nil || m.pending[key] != nil {
		return nil, errdefs.Conflict("endpoint with name %s already exists in network %s", ec.ContainerName, n.Name)
	}
	mine := m.containerEndpoints(ec.ContainerID)
	for _, other := range mine {
		if other.NetworkName == HostName || other.NetworkName == NoneName || n.Driver != DriverBridge {
			return nil, errdefs.Conflict("container %s cannot join network %s: it is on network %s, which admits no other network",
				ec.ContainerID, n.Name, other.NetworkName)
		}
	}
	if n.Driver != DriverHost && netnsPath == "" {
		return nil, errdefs.Invalid("connecting to network %s needs a network namespace path", n.Name)
	}
	ep := &Endpoint{
		NetworkID: n.ID, NetworkName: n.Name, EndpointID: newID(),
		ContainerID: ec.ContainerID, ContainerName: ec.ContainerName,
		Aliases: append([]string(nil), ec.Aliases...), NetNS: netnsPath,
	}
	if n.Driver == DriverHost {
		ep.NetNS = ""
	}
	if n.Driver == DriverBridge {
		ep.Interface = freeInterface(mine)
		ports, err := m.reservePorts(key, ec.Ports)
		if err != nil {
			return nil, fmt.Errorf("driver failed programming external connectivity on endpoint %s: %w", ec.ContainerName, err)
		}
		ep.Ports = ports
	}
	m.pending[key] = ep
	return ep, nil
}

// containerEndpoints lists a container's endpoints, connected or in progress.
// The caller holds m.mu.
func (m *Manager) containerEndpoints(containerID string) []*Endpoint {
	var out []*Endpoint
	for _, set := range []map[string]*Endpoint{m.endpoints, m.pending} {
		for _, ep := range set {
			if ep.ContainerID == containerID {
				out = append(out, ep)
			}
		}
	}
	return out
}

// freeInterface is the lowest ethN that none of the endpoints uses.
func freeInterface(eps []*Endpoint) string {
	used := map[string]bool{}
	for _, ep := range eps {
		used[ep.Interface] = true
	}
	for i := 0; ; i++ {
		if name := fmt.Sprintf("eth%d", i); !used[name] {
			return name
		}
	}
}

// runtimeConf is the per-container part of a CNI call. Ports are not
// passed: no plugin publishes them (publish.go does).
func runtimeConf(ep *Endpoint, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: ep.ContainerID, NetNS: netns, IfName: ep.Interface}
}

// cniAdd runs CNI ADD and fills the endpoint's addresses from the result; on
// failure it runs DEL so that nothing a plugin made is left.
func (m *Manager) cniAdd(ctx context.Context, n *network, ep *Endpoint) error {
	res, err := m.cni.AddNetworkList(ctx, n.conf, runtimeConf(ep, ep.NetNS))
	if err == nil {
		err = fillAddresses(ep, res)
	}
	if err != nil {
		if derr := m.cniDel(context.WithoutCancel(ctx), n, ep); derr != nil {
			err = fmt.Errorf("%w (and undoing it: %v)", err, derr)
		}
		return fmt.Errorf("connecting container %s to network %s: %w", ep.ContainerID, n.Name, err)
	}
	return nil
}

// cniDel runs CNI DEL. A netns that is gone is passed as "": the plugins then
// release the IP and skip the interface, which went with it.
func (m *Manager) cniDel(ctx context.Context, n *network, ep *Endpoint) error {
	netns := ep.NetNS
	if netns != "" {
		if _, err := os.Stat(netns); err != nil {
			netns = ""
		}
	}
	return m.cni.DelNetworkList(ctx, n.conf, runtimeConf(ep, netns))
}

// fillAddresses copies the container interface's address, gateway and MAC
// from a CNI result.
func fillAddresses(ep *Endpoint, res any) error {
	r, ok := res.(*types100.Result)
	if !ok {
		return fmt.Errorf("unexpected CNI result type %T", res)
	}
	for i, iface := range r.Interfaces {
		if iface.Name != ep.Interface || iface.Sandbox == "" {
			continue
		}
		ep.MAC = iface.Mac
		for _, ip := range r.IPs {
			if ip.Interface == nil || *ip.Interface != i || ip.Address.IP.To4() == nil {
				continue
			}
			ep.IP = ip.Address.IP.String()
			ep.PrefixLen, _ = ip.Address.Mask.Size()
			if ip.Gateway != nil {
				ep.Gateway = ip.Gateway.String()
			}
			return nil
		}
	}
	return fmt.Errorf("CNI result has no IPv4 address for %s", ep.Interface)
}

// Disconnect detaches a container from a network: for bridge networks the
// published ports' rules go, then CNI DEL releases the IP and the veth.
// It works after a daemon restart and when the netns is gone. netnsPath ""
// means the path given to Connect. It returns an errdefs.NotFound error when
// the container is not on the network: cleanup code may ignore that.
func (m *Manager) Disconnect(ctx context.Context, networkName, containerID, netnsPath string) error {
	m.mu.Lock()
	n, err := m.find(networkName)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	key := endpointKey(containerID, n.ID)
	ep := m.endpoints[key]
	if ep == nil {
		busy := m.pending[key] != nil
		m.mu.Unlock()
		if busy {
			return errdefs.Conflict("container %s is being connected to or disconnected from network %s", containerID, n.Name)
		}
		return errdefs.NotFound("container %s is not connected to network %s", containerID, n.Name)
	}
	delete(m.endpoints, key)
	m.pending[key] = ep
	m.mu.Unlock()
	if netnsPath == "" {
		netnsPath = ep.NetNS
	}
	return m.finishDisconnect(ctx, ep, netnsPath)
}

// Release disconnects a stopped container from all its networks and removes
// its network namespace (netnsPath, or the path given to Connect when "").
// The ports' rules go and the plugins run without the namespace: they release
// the IPs and skip the container's interfaces, which the kernel removes with the
// namespace. That skips the slow veth deletion of a Disconnect, so it is the
// way to tear down a container whose processes are gone. An endpoint whose
// CNI DEL fails stays recorded for a later Disconnect; the namespace is
// removed all the same.
func (m *Manager) Release(ctx context.Context, containerID, netnsPath string) error {
	m.mu.Lock()
	var mine []*Endpoint
	for key, ep := range m.endpoints {
		if ep.ContainerID == containerID {
			mine = append(mine, ep)
			delete(m.endpoints, key)
			m.pending[key] = ep
		}
	}
	m.mu.Unlock()

	var errs []error
	for _, ep := range mine {
		if netnsPath == "" && ep.NetNS != "" {
			netnsPath = ep.NetNS
		}
		errs = append(errs, m.finishDisconnect(ctx, ep, ""))
	}
	if netnsPath != "" {
		errs = append(errs, m.RemoveNetNS(netnsPath))
	}
	return errors.Join(errs...)
}

// finishDisconnect runs CNI DEL for an endpoint that the caller moved from
// m.endpoints to m.pending, and forgets it, or puts it back on failure.
// netns "" runs the plugins without a namespace.
func (m *Manager) finishDisconnect(ctx context.Context, ep *Endpoint, netns string) error {
	key := endpointKey(ep.ContainerID, ep.NetworkID)
	m.mu.Lock()
	n := m.networks[ep.NetworkID]
	m.mu.Unlock()

	// The port rules go first: a DNAT rule must never outlive the IP it
	// points at, which the next container may get.
	err := m.unpublish(ep)
	if err == nil && n != nil && n.Driver == DriverBridge {
		target := ep.clone()
		target.NetNS = netns
		err = m.cniDel(ctx, n, target)
	}
	if err != nil {
		err = fmt.Errorf("disconnecting container %s from network %s: %w", ep.ContainerID, ep.NetworkName, err)
	}
	if err == nil {
		if rerr := os.Remove(m.endpointPath(key)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, key)
	if err != nil {
		m.endpoints[key] = ep // still there: a later Disconnect tries again
		return err
	}
	m.releasePorts(key)
	return nil
}

// Endpoints returns a container's endpoints, by interface name.
func (m *Manager) Endpoints(containerID string) []*Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Endpoint
	for _, ep := range m.endpoints {
		if ep.ContainerID == containerID {
			out = append(out, ep.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return ifaceLess(out[i].Interface, out[j].Interface) })
	return out
}

// NetworkEndpoints returns a network's endpoints, by container name: for
// inspect, and for the /etc/hosts of the containers on it (IP, name, aliases).
// An unknown network has none.
func (m *Manager) NetworkEndpoints(network string) []*Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.find(network)
	if err != nil {
		return nil
	}
	var out []*Endpoint
	for _, ep := range m.endpoints {
		if ep.NetworkID == n.ID {
			out = append(out, ep.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContainerName < out[j].ContainerName })
	return out
}

// ifaceLess orders eth2 before eth10.
func ifaceLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return strings.Compare(a, b) < 0
}
