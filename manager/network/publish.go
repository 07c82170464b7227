package network

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Published ports are one DNAT rule per port in XMGR-DNAT, which nat
// PREROUTING (connections from elsewhere) and OUTPUT (from the host itself)
// jump to for local destinations. They are made from the endpoint record
// (IP and ports) alone, so that a manager started later removes exactly
// them. The per-network rules that make them answer on 127.0.0.1 and from
// the network itself are networkRules'.

// portComment tags the rules of one endpoint's published ports.
func portComment(ep *Endpoint) string {
	return "xmgr-ep:" + ep.ContainerID + ":" + ep.NetworkID[:12]
}

// portRules are the DNAT rules of an endpoint's published ports: a port
// published on one host address matches only that destination.
func portRules(ep *Endpoint) []rule {
	var out []rule
	for _, p := range ep.Ports {
		pr := proto(p.Protocol)
		var spec []string
		if ip := p.HostIP; ip != "" && ip != "0.0.0.0" {
			spec = append(spec, "-d", ip+"/32")
		}
		spec = append(spec, "-p", pr, "-m", pr, "--dport", strconv.Itoa(p.HostPort),
			"-m", "comment", "--comment", portComment(ep),
			"-j", "DNAT", "--to-destination", net.JoinHostPort(ep.IP, strconv.Itoa(p.ContainerPort)))
		out = append(out, rule{"nat", dnatChain, spec})
	}
	return out
}

// publish adds the rules of an endpoint's published ports in one
// iptables-restore, after letting the bridge route 127.0.0.1 so that
// localhost:PORT reaches the container.
func (m *Manager) publish(n *network, ep *Endpoint) error {
	if len(ep.Ports) == 0 {
		return nil
	}
	if err := enableRouteLocalnet(n.Bridge); err != nil {
		return err
	}
	return m.rules.restore("-A", portRules(ep))
}

// unpublish removes the rules of an endpoint's published ports in one
// iptables-restore; rules already gone are fine.
func (m *Manager) unpublish(ep *Endpoint) error {
	if len(ep.Ports) == 0 || ep.IP == "" {
		return nil
	}
	return m.rules.removeTagged(portRules(ep), portComment(ep))
}

// enableRouteLocalnet sets net.ipv4.conf.<bridge>.route_localnet=1: without
// it the kernel drops a connection to 127.0.0.1 that DNAT sends out of the
// bridge, and its replies. It is left on with the bridge (as portmap does);
// networkRules drops what containers would send to 127.0.0.0/8 through it.
func enableRouteLocalnet(bridge string) error {
	path := filepath.Join("/proc/sys/net/ipv4/conf", bridge, "route_localnet")
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling net.ipv4.conf.%s.route_localnet for ports published on 127.0.0.1: %w", bridge, err)
	}
	return nil
}
