// Package network gives xmgr Docker's networks through CNI: the predefined
// "bridge" (NAT out, published ports), "host" and "none" networks, and
// user-defined bridge networks. A bridge network is a CNI conflist (bridge +
// host-local IPAM) run by libcni with the standard plugins; the per-network
// NAT and forwarding rules are set up once per network by this package, and
// published ports are DNAT rules of this package added and removed in one
// iptables-restore each, so that joining a network costs little more than the
// bridge plugin's own work.
package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Drivers, as Docker names them.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// The predefined networks.
const (
	BridgeName = "bridge"
	HostName   = "host"
	NoneName   = "none"
)

// DefaultBridgeSubnet is the default network's subnet unless Config says otherwise.
const DefaultBridgeSubnet = "10.210.0.0/16"

// defaultBridgeDevice is the Linux bridge of the default network (Docker's docker0).
const defaultBridgeDevice = "xmgr0"

// bridgeNameOption lets a user name the bridge device, as Docker's option does.
const bridgeNameOption = "com.docker.network.bridge.name"

// Config says where the manager keeps its state and finds the CNI plugins.
type Config struct {
	DataRoot     string   // persistent: <DataRoot>/network/
	ExecRoot     string   // runtime: <ExecRoot>/netns/ holds bind-mounted netns files
	PluginDirs   []string // default: /usr/lib/cni, /opt/cni/bin
	BridgeSubnet string   // default network's subnet, default 10.210.0.0/16
	BridgeDevice string   // default network's Linux bridge, default "xmgr0" (tests pick their own)
}

// Network is one network as Docker shows it.
type Network struct {
	ID       string
	Name     string
	Driver   string // "bridge", "host" or "null"
	Subnet   string
	Gateway  string
	IPRange  string `json:",omitempty"`
	Internal bool
	Labels   map[string]string
	Options  map[string]string
	Created  time.Time
	Bridge   string // the Linux bridge device ("" for host and none)
}

// Predefined reports whether the network is one of the three Docker creates
// by itself and never removes.
func (n *Network) Predefined() bool {
	return n.Name == BridgeName || n.Name == HostName || n.Name == NoneName
}

// cniName is the network's name towards CNI: host-local's data directory,
// and the result cache derive from it, so it must not
// change when a user names the network.
func (n *Network) cniName() string { return "xmgr-" + n.ID[:12] }

// clone returns a copy a caller may change without touching the manager's.
func (n *Network) clone() *Network {
	c := *n
	c.Labels = cloneMap(n.Labels)
	c.Options = cloneMap(n.Options)
	return &c
}

// CreateRequest is what `network create` asks for.
type CreateRequest struct {
	Name           string
	Driver         string // "" means bridge
	Subnet         string // "" means a free /24 is chosen
	Gateway        string // "" means the subnet's first address
	IPRange        string // "" means the whole subnet
	Internal       bool
	Labels         map[string]string
	Options        map[string]string
	CheckDuplicate bool // kept for the API; names are always unique here
}

// network is a network with what the manager derives from it.
type network struct {
	*Network
	conf *libcni.NetworkConfigList // the parsed conflist of a bridge network; nil for the others
}

// Manager owns the networks and the endpoints of containers on them.
type Manager struct {
	cfg   Config
	cni   *libcni.CNIConfig
	paths paths
	rules *rules

	mu        sync.Mutex
	networks  map[string]*network  // by ID
	endpoints map[string]*Endpoint // by endpointKey(container, network)
	pending   map[string]*Endpoint // endpoints being connected or disconnected
	ports     map[portKey]string   // published host ports -> owning endpoint key, or "" while allocated but unused
	nextPort  int                  // where AllocatePort looks first
}

// paths are the manager's directories.
type paths struct {
	root      string // <DataRoot>/network
	networks  string // network definitions and their conflists
	endpoints string // one JSON record per endpoint
	ipam      string // host-local's data
	cache     string // libcni's result cache
	netns     string // <ExecRoot>/netns
}

// New loads the networks and endpoints under cfg.DataRoot, creates the three
// predefined networks the first time, makes sure every bridge network's NAT
// and forwarding rules are in place, and turns on IPv4 forwarding
// (net.ipv4.ip_forward=1), without which nothing leaves a bridge network.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.DataRoot == "" || cfg.ExecRoot == "" {
		return nil, errdefs.Invalid("network: DataRoot and ExecRoot must be set")
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.BridgeSubnet == "" {
		cfg.BridgeSubnet = DefaultBridgeSubnet
	}
	if cfg.BridgeDevice == "" {
		cfg.BridgeDevice = defaultBridgeDevice
	}
	root := filepath.Join(cfg.DataRoot, "network")
	m := &Manager{
		cfg: cfg,
		paths: paths{
			root:      root,
			networks:  filepath.Join(root, "networks"),
			endpoints: filepath.Join(root, "endpoints"),
			ipam:      filepath.Join(root, "ipam"),
			cache:     filepath.Join(root, "cache"),
			netns:     filepath.Join(cfg.ExecRoot, "netns"),
		},
		networks:  map[string]*network{},
		endpoints: map[string]*Endpoint{},
		pending:   map[string]*Endpoint{},
		ports:     map[portKey]string{},
	}
	for _, dir := range []string{m.paths.networks, m.paths.endpoints, m.paths.ipam, m.paths.cache, m.paths.netns} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	ensureSbinInPath()
	m.cni = libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, m.paths.cache, newExec())
	if err := enableIPForward(); err != nil {
		return nil, err
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	if err := m.createPredefined(); err != nil {
		return nil, err
	}
	r, err := loadRules()
	if err != nil {
		return nil, err
	}
	m.rules = r
	for _, n := range m.networks {
		if n.Driver == DriverBridge {
			if err := m.rules.ensure(n.Network); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// createPredefined makes bridge, host and none unless they exist.
func (m *Manager) createPredefined() error {
	if _, err := m.byName(BridgeName); err != nil {
		subnet, gateway, err := bridgeIP(m.cfg.BridgeSubnet)
		if err != nil {
			return errdefs.Invalid("network: --bip %s: %v", m.cfg.BridgeSubnet, err)
		}
		n := &Network{Name: BridgeName, Driver: DriverBridge, Subnet: subnet, Gateway: gateway, Bridge: m.cfg.BridgeDevice,
			Options: map[string]string{bridgeNameOption: m.cfg.BridgeDevice, "com.docker.network.bridge.default_bridge": "true"}}
		if err := m.register(n); err != nil {
			return err
		}
	}
	for _, p := range []struct{ name, driver string }{{HostName, DriverHost}, {NoneName, DriverNull}} {
		if _, err := m.byName(p.name); err == nil {
			continue
		}
		if err := m.register(&Network{Name: p.name, Driver: p.driver}); err != nil {
			return err
		}
	}
	return nil
}

// register fills in the ID, gateway and creation time of a validated network,
// writes it and registers it. The caller holds m.mu or is New.
func (m *Manager) register(n *Network) error {
	n.ID = newID()
	n.Created = time.Now().UTC()
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	if n.Driver == DriverBridge {
		_, subnet, _ := parseSubnet(n.Subnet)
		if n.Gateway == "" {
			n.Gateway = firstHost(subnet).String()
		}
		if n.Bridge == "" {
			n.Bridge = "xmgr-" + n.ID[:10]
		}
	}
	entry, err := m.prepare(n)
	if err != nil {
		return err
	}
	if err := m.saveNetwork(entry); err != nil {
		return err
	}
	m.networks[n.ID] = entry
	return nil
}

// prepare builds and parses the network's conflist once, so that Connect
// never does it.
func (m *Manager) prepare(n *Network) (*network, error) {
	entry := &network{Network: n}
	if n.Driver != DriverBridge {
		return entry, nil
	}
	var err error
	if entry.conf, err = libcni.NetworkConfFromBytes(conflist(n, m.paths.ipam)); err != nil {
		return nil, fmt.Errorf("network %s: conflist: %w", n.Name, err)
	}
	return entry, nil
}

// Create makes a user-defined network.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (*Network, error) {
	n, err := validateRequest(req)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.byName(n.Name); err == nil {
		return nil, errdefs.Conflict("network with name %s already exists", n.Name)
	}
	if n.Bridge != "" {
		for _, other := range m.networks {
			if other.Bridge == n.Bridge {
				return nil, errdefs.Conflict("bridge device %s is already used by network %s", n.Bridge, other.Name)
			}
		}
	}
	if n.Subnet == "" {
		subnet, err := m.freeSubnet()
		if err != nil {
			return nil, err
		}
		n.Subnet = subnet
	} else if err := m.checkOverlap(n.Subnet); err != nil {
		return nil, err
	}
	if err := m.register(n); err != nil {
		return nil, err
	}
	if err := m.rules.ensure(n); err != nil {
		m.forget(m.networks[n.ID])
		return nil, err
	}
	return n.clone(), nil
}

// validateRequest checks a create request and turns it into a network
// without ID. It changes nothing.
func validateRequest(req CreateRequest) (*Network, error) {
	if req.Name == "" {
		return nil, errdefs.Invalid("network name must not be empty")
	}
	if !validName(req.Name) {
		return nil, errdefs.Invalid("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	driver := req.Driver
	if driver == "" {
		driver = DriverBridge
	}
	switch driver {
	case DriverBridge:
	case DriverHost, DriverNull:
		return nil, errdefs.Invalid("only one instance of %q network is allowed", driver)
	default:
		return nil, errdefs.NotFound("plugin %q not found", driver)
	}
	n := &Network{Name: req.Name, Driver: driver, Internal: req.Internal,
		Labels: cloneMap(req.Labels), Options: cloneMap(req.Options)}
	if name := req.Options[bridgeNameOption]; name != "" {
		if len(name) > 15 || strings.ContainsAny(name, "/ \t\n") {
			return nil, errdefs.Invalid("invalid bridge name %q", name)
		}
		n.Bridge = name
	}
	if req.Subnet == "" {
		if req.Gateway != "" || req.IPRange != "" {
			return nil, errdefs.Invalid("gateway and ip-range need a subnet")
		}
		return n, nil
	}
	_, subnet, err := parseSubnet(req.Subnet)
	if err != nil {
		return nil, errdefs.Invalid("invalid subnet %s: %v", req.Subnet, err)
	}
	n.Subnet = subnet.String()
	if req.Gateway != "" {
		gw := net.ParseIP(req.Gateway).To4()
		if gw == nil || !subnet.Contains(gw) || gw.Equal(subnet.IP) || gw.Equal(broadcast(subnet)) {
			return nil, errdefs.Invalid("invalid gateway %s: not a host address of subnet %s", req.Gateway, n.Subnet)
		}
		n.Gateway = gw.String()
	}
	if req.IPRange != "" {
		_, r, err := parseSubnet(req.IPRange)
		if err != nil {
			return nil, errdefs.Invalid("invalid ip-range %s: %v", req.IPRange, err)
		}
		if !contains(subnet, r) {
			return nil, errdefs.Invalid("ip-range %s is not inside subnet %s", req.IPRange, n.Subnet)
		}
		n.IPRange = r.String()
	}
	return n, nil
}

// List returns every network, sorted by name.
func (m *Manager) List() []*Network {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Network, 0, len(m.networks))
	for _, n := range m.networks {
		out = append(out, n.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get finds a network by full ID, name, or unique ID prefix, in that order
// as Docker does.
func (m *Manager) Get(idOrName string) (*Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.find(idOrName)
	if err != nil {
		return nil, err
	}
	return n.clone(), nil
}

// find is Get under m.mu.
func (m *Manager) find(idOrName string) (*network, error) {
	if idOrName == "" {
		return nil, errdefs.Invalid("network name or ID must not be empty")
	}
	if n, ok := m.networks[idOrName]; ok {
		return n, nil
	}
	if n, err := m.byName(idOrName); err == nil {
		return n, nil
	}
	var found *network
	for id, n := range m.networks {
		if strings.HasPrefix(id, idOrName) {
			if found != nil {
				return nil, errdefs.Invalid("network %s is ambiguous: more than one network ID starts with it", idOrName)
			}
			found = n
		}
	}
	if found == nil {
		return nil, errdefs.NotFound("network %s not found", idOrName)
	}
	return found, nil
}

func (m *Manager) byName(name string) (*network, error) {
	for _, n := range m.networks {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, errdefs.NotFound("network %s not found", name)
}

// Remove deletes a user-defined network without endpoints, its bridge device
// and its iptables rules.
func (m *Manager) Remove(ctx context.Context, idOrName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.find(idOrName)
	if err != nil {
		return err
	}
	return m.remove(n)
}

// remove is Remove under m.mu.
func (m *Manager) remove(n *network) error {
	if n.Predefined() {
		return errdefs.Conflict("%s is a pre-defined network and cannot be removed", n.Name)
	}
	if m.inUse(n.ID) {
		return errdefs.Conflict("error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
	}
	if err := m.rules.remove(n.Network); err != nil {
		return err
	}
	if err := deleteLink(n.Bridge); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return m.forget(n)
}

// forget removes a network's files and its entry.
func (m *Manager) forget(n *network) error {
	delete(m.networks, n.ID)
	os.RemoveAll(filepath.Join(m.paths.ipam, n.cniName()))
	for _, f := range []string{n.ID + ".json", n.ID + ".conflist"} {
		if err := os.Remove(filepath.Join(m.paths.networks, f)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	return nil
}

// inUse reports whether a network has endpoints or Connects in progress.
func (m *Manager) inUse(id string) bool {
	for _, ep := range m.endpoints {
		if ep.NetworkID == id {
			return true
		}
	}
	for _, ep := range m.pending {
		if ep.NetworkID == id {
			return true
		}
	}
	return false
}

// Prune removes every user-defined network without endpoints whose labels
// match all of the given ones ("key" matches any value, "key=value" only that
// value; "!key"/"key!=value" must not match), and returns their names.
func (m *Manager) Prune(ctx context.Context, labels []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed []string
	var errs []string
	for _, n := range m.networks {
		if n.Predefined() || m.inUse(n.ID) || !matchLabels(n.Labels, labels) {
			continue
		}
		if err := m.remove(n); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		removed = append(removed, n.Name)
	}
	sort.Strings(removed)
	if len(errs) > 0 {
		return removed, fmt.Errorf("network prune: %s", strings.Join(errs, "; "))
	}
	return removed, nil
}

// matchLabels applies Docker's label filters.
func matchLabels(have map[string]string, filters []string) bool {
	for _, f := range filters {
		negate := false
		key, value, hasValue := strings.Cut(f, "=")
		if strings.HasSuffix(key, "!") {
			negate, key = true, strings.TrimSuffix(key, "!")
		} else if !hasValue && strings.HasPrefix(key, "!") {
			negate, key = true, strings.TrimPrefix(key, "!")
		}
		got, ok := have[key]
		match := ok && (!hasValue || got == value)
		if match == negate {
			return false
		}
	}
	return true
}

// newID returns 64 random hex digits, like Docker's IDs.
func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func validName(name string) bool {
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_.-", c)) {
			return false
		}
	}
	return name != ""
}

func cloneMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
