package network

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Automatic subnets are /24s taken from these /16s in order (Docker takes
// 172.18.0.0/16 and up; ours stay out of the way of Docker's).
var autoPools = []string{"10.211.0.0/16", "10.212.0.0/16", "10.213.0.0/16", "10.214.0.0/16"}

// parseSubnet reads an IPv4 CIDR; the address is masked to the network.
func parseSubnet(s string) (net.IP, *net.IPNet, error) {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, nil, err
	}
	if ip.To4() == nil {
		return nil, nil, errors.New("only IPv4 subnets are supported")
	}
	if ones, _ := n.Mask.Size(); ones > 30 {
		return nil, nil, errors.New("a subnet needs room for a gateway and a container: /30 at most")
	}
	n.IP = n.IP.To4()
	return ip.To4(), n, nil
}

// bridgeIP reads the default bridge's --bip as Docker does: the bridge's
// own address and prefix (172.26.0.1/16), which gives the subnet and the
// gateway. A network address (10.210.0.0/16) leaves the gateway to the
// subnet's first host.
func bridgeIP(bip string) (subnet, gateway string, err error) {
	ip, n, err := parseSubnet(bip)
	if err != nil {
		return "", "", err
	}
	if ip.Equal(n.IP) {
		return n.String(), "", nil
	}
	if ip.Equal(broadcast(n)) {
		return "", "", fmt.Errorf("%s is the broadcast address of %s", ip, n)
	}
	return n.String(), ip.String(), nil
}

// contains reports whether inner lies inside outer.
func contains(outer, inner *net.IPNet) bool {
	oo, _ := outer.Mask.Size()
	io, _ := inner.Mask.Size()
	return io >= oo && outer.Contains(inner.IP)
}

// overlaps reports whether two subnets share an address.
func overlaps(a, b *net.IPNet) bool {
	return a.Contains(b.IP) || b.Contains(a.IP)
}

func ipToUint(ip net.IP) uint32     { return binary.BigEndian.Uint32(ip.To4()) }
func uintToIP(v uint32) net.IP      { ip := make(net.IP, 4); binary.BigEndian.PutUint32(ip, v); return ip }
func firstHost(n *net.IPNet) net.IP { return uintToIP(ipToUint(n.IP) + 1) }

func broadcast(n *net.IPNet) net.IP {
	return uintToIP(ipToUint(n.IP) | ^binary.BigEndian.Uint32(net.IP(n.Mask).To4()))
}

// usedSubnets are the subnets of every network and every host route but the
// default one: a new network must overlap none of them. The caller holds m.mu.
func (m *Manager) usedSubnets() ([]*net.IPNet, error) {
	var used []*net.IPNet
	for _, n := range m.networks {
		if n.Subnet == "" {
			continue
		}
		if _, s, err := parseSubnet(n.Subnet); err == nil {
			used = append(used, s)
		}
	}
	routes, err := hostRoutes()
	if err != nil {
		return nil, err
	}
	return append(used, routes...), nil
}

// checkOverlap refuses a subnet that overlaps a network or host route.
func (m *Manager) checkOverlap(subnet string) error {
	_, s, _ := parseSubnet(subnet)
	used, err := m.usedSubnets()
	if err != nil {
		return err
	}
	for _, u := range used {
		if overlaps(s, u) {
			return errdefs.Conflict("invalid pool request: Pool overlaps with other one on this address space (%s overlaps %s)", subnet, u)
		}
	}
	return nil
}

// freeSubnet finds the first /24 of the automatic pools that overlaps
// nothing in use.
func (m *Manager) freeSubnet() (string, error) {
	used, err := m.usedSubnets()
	if err != nil {
		return "", err
	}
	for _, pool := range autoPools {
		_, p, _ := net.ParseCIDR(pool)
		ones, _ := p.Mask.Size()
		count := uint32(1) << (24 - ones)
		for i := uint32(0); i < count; i++ {
			cand := &net.IPNet{IP: uintToIP(ipToUint(p.IP) + i<<8), Mask: net.CIDRMask(24, 32)}
			free := true
			for _, u := range used {
				if overlaps(cand, u) {
					free = false
					break
				}
			}
			if free {
				return cand.String(), nil
			}
		}
	}
	return "", errdefs.Unavailable("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
}

// hostRoutes reads the IPv4 routing table (/proc/net/route) and returns the
// destination of every route except the default one.
func hostRoutes() ([]*net.IPNet, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, fmt.Errorf("reading host routes: %w", err)
	}
	defer f.Close()
	return parseRoutes(f)
}

// parseRoutes parses /proc/net/route: destination and mask are hex numbers
// in host (little-endian) byte order.
func parseRoutes(f io.Reader) ([]*net.IPNet, error) {
	var out []*net.IPNet
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(fields[1], 16, 32)
		mask, err2 := strconv.ParseUint(fields[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		d, mk := make(net.IP, 4), make(net.IP, 4)
		binary.LittleEndian.PutUint32(d, uint32(dst))
		binary.LittleEndian.PutUint32(mk, uint32(mask))
		out = append(out, &net.IPNet{IP: d, Mask: net.IPMask(mk)})
	}
	return out, sc.Err()
}

// lastHost is the address before the broadcast address.
func lastHost(n *net.IPNet) net.IP { return uintToIP(ipToUint(broadcast(n)) - 1) }
