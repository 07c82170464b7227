package network

import (
	"encoding/json"
	"path/filepath"
)

// cniVersion is the newest spec version Debian's plugins (1.1.1) speak.
const cniVersion = "1.0.0"

// conflist is the CNI configuration of a bridge network. NAT out and the
// forwarding rules are not the bridge plugin's (ipMasq would add four
// iptables calls to every container start): rules.go sets them up once per
// network. portmap is added only to the list used when ports are published.
func conflist(n *Network, ipamDir string, withPorts bool) []byte {
	rng := map[string]any{"subnet": n.Subnet, "gateway": n.Gateway}
	if n.IPRange != "" {
		_, r, _ := parseSubnet(n.IPRange)
		rng["rangeStart"] = firstHost(r).String()
		rng["rangeEnd"] = lastHost(r).String()
	}
	bridge := map[string]any{
		"type":   "bridge",
		"bridge": n.Bridge,
		// The bridge holds the gateway address even on an internal network,
		// so the host reaches its containers; only the default route is left out.
		"isGateway":        true,
		"isDefaultGateway": !n.Internal,
		"ipMasq":           false,
		// Hairpin lets a container reach its own published port.
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"dataDir": ipamDir,
			"ranges":  [][]map[string]any{{rng}},
		},
	}
	plugins := []any{bridge}
	if withPorts {
		plugins = append(plugins, map[string]any{
			"type":         "portmap",
			"capabilities": map[string]bool{"portMappings": true},
			// snat masquerades connections from 127.0.0.1 (with route_localnet
			// on the bridge) so that localhost:PORT answers.
			"snat":                 true,
			"externalSetMarkChain": setMarkChain,
		})
	}
	b, _ := json.Marshal(map[string]any{
		"cniVersion": cniVersion,
		"name":       n.cniName(),
		"plugins":    plugins,
	})
	return b
}

// conflistPath is where the generated conflist is kept beside the network,
// for a person (or cnitool) to read; the manager builds it from the network.
func conflistPath(dir string, n *Network) string {
	return filepath.Join(dir, n.ID+".conflist")
}
