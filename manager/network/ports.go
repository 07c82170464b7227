package network

import (
	"errors"
	"net"
	"strconv"
	"syscall"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// PortMapping publishes a container port on the host.
type PortMapping struct {
	HostIP        string // "" means every host address
	HostPort      int    // 0 in Connect means "choose one" (-P)
	ContainerPort int
	Protocol      string // "tcp" (also for "") or "udp"
}

// Docker's ephemeral range for -P.
const (
	ephemeralFirst = 32768
	ephemeralLast  = 60999
)

// portKey is one published host port. HostIP "" stands for all addresses.
type portKey struct {
	Proto  string
	HostIP string
	Port   int
}

func keyOf(p PortMapping) portKey {
	ip := p.HostIP
	if ip == "0.0.0.0" {
		ip = ""
	}
	return portKey{Proto: proto(p.Protocol), HostIP: ip, Port: p.HostPort}
}

func proto(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

// clash reports whether two published ports cannot both exist.
func (k portKey) clash(o portKey) bool {
	return k.Proto == o.Proto && k.Port == o.Port && (k.HostIP == "" || o.HostIP == "" || k.HostIP == o.HostIP)
}

// bindAddr is how Docker names the address in its "port is already allocated" message.
func (k portKey) bindAddr() string {
	ip := k.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return net.JoinHostPort(ip, strconv.Itoa(k.Port))
}

// validatePorts checks the fields of port mappings.
func validatePorts(ports []PortMapping) error {
	for _, p := range ports {
		if pr := proto(p.Protocol); pr != "tcp" && pr != "udp" {
			return errdefs.Invalid("invalid protocol %q for port %d: tcp or udp", p.Protocol, p.ContainerPort)
		}
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return errdefs.Invalid("invalid container port %d", p.ContainerPort)
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			return errdefs.Invalid("invalid host port %d", p.HostPort)
		}
		if p.HostIP != "" {
			if ip := net.ParseIP(p.HostIP); ip == nil || ip.To4() == nil {
				return errdefs.Invalid("invalid host IP %q: an IPv4 address", p.HostIP)
			}
		}
	}
	return nil
}

// CheckPorts reports, as Docker words it, the first host port that another
// endpoint publishes or a host process holds. It reserves nothing.
func (m *Manager) CheckPorts(ports []PortMapping) error {
	if err := validatePorts(ports); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checkPorts("", ports)
}

// checkPorts is CheckPorts under m.mu; owner's own reservations and ports
// allocated by AllocatePort but not yet used do not count.
func (m *Manager) checkPorts(owner string, ports []PortMapping) error {
	for i, p := range ports {
		k := keyOf(p)
		for _, q := range ports[:i] {
			if keyOf(q).clash(k) {
				return errdefs.Conflict("Bind for %s failed: port is already allocated", k.bindAddr())
			}
		}
		for other, by := range m.ports {
			if by != "" && by != owner && other.clash(k) {
				return errdefs.Conflict("Bind for %s failed: port is already allocated", k.bindAddr())
			}
		}
		if _, held := m.ports[k]; held {
			continue // held by this endpoint or allocated for it: probing would only see our own hold
		}
		if err := probe(k); err != nil {
			return err
		}
	}
	return nil
}

// probe binds the host port for a moment: a host process that listens on it
// would otherwise lose its traffic to the container silently.
func probe(k portKey) error {
	addr := k.bindAddr()
	if k.Proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return probeError(k, err)
		}
		return c.Close()
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return probeError(k, err)
	}
	return l.Close()
}

func probeError(k portKey, err error) error {
	if isAddrInUse(err) {
		return errdefs.Conflict("Bind for %s failed: port is already allocated", k.bindAddr())
	}
	return errdefs.Invalid("cannot publish %s/%s: %v", k.bindAddr(), k.Proto, err)
}

// AllocatePort returns a free host port of Docker's ephemeral range (for -P)
// and holds it until a Connect publishes it or ReleasePorts gives it back.
func (m *Manager) AllocatePort(protocol string) (int, error) {
	pr := proto(protocol)
	if pr != "tcp" && pr != "udp" {
		return 0, errdefs.Invalid("invalid protocol %q: tcp or udp", protocol)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.allocatePort(pr)
}

// allocatePort is AllocatePort under m.mu. It starts after the last port it
// gave, as Docker does, so a port just freed is not handed out again at once.
func (m *Manager) allocatePort(pr string) (int, error) {
	const size = ephemeralLast - ephemeralFirst + 1
	for i := 0; i < size; i++ {
		port := ephemeralFirst + (m.nextPort-ephemeralFirst+i+size)%size
		k := portKey{Proto: pr, Port: port}
		taken := false
		for other := range m.ports {
			if other.clash(k) {
				taken = true
				break
			}
		}
		if taken || probe(k) != nil {
			continue
		}
		m.ports[k] = ""
		m.nextPort = port + 1
		return port, nil
	}
	return 0, errdefs.Unavailable("no free host port for %s in %d-%d", pr, ephemeralFirst, ephemeralLast)
}

// ReleasePorts gives back ports from AllocatePort that no Connect used
// (a container that failed before it joined a network).
func (m *Manager) ReleasePorts(ports []PortMapping) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ports {
		k := keyOf(p)
		k.HostIP = ""
		if by, ok := m.ports[k]; ok && by == "" {
			delete(m.ports, k)
		}
	}
}

// reservePorts takes the ports for an endpoint under m.mu, choosing host
// ports for mappings that have none; it returns the ports as published.
func (m *Manager) reservePorts(owner string, ports []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, len(ports))
	copy(out, ports)
	var chosen []portKey
	undo := func() {
		for _, k := range chosen {
			delete(m.ports, k)
		}
	}
	for i := range out {
		out[i].Protocol = proto(out[i].Protocol)
		if out[i].HostPort == 0 {
			port, err := m.allocatePort(out[i].Protocol)
			if err != nil {
				undo()
				return nil, err
			}
			out[i].HostPort = port
			chosen = append(chosen, portKey{Proto: out[i].Protocol, Port: port})
		}
	}
	if err := m.checkPorts(owner, out); err != nil {
		undo()
		return nil, err
	}
	for _, p := range out {
		// A port from AllocatePort is held under HostIP "": hand it over.
		delete(m.ports, portKey{Proto: proto(p.Protocol), Port: p.HostPort})
		m.ports[keyOf(p)] = owner
	}
	return out, nil
}

// releasePorts frees every port an endpoint holds. The caller holds m.mu.
func (m *Manager) releasePorts(owner string) {
	for k, by := range m.ports {
		if by == owner {
			delete(m.ports, k)
		}
	}
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
