package network

import (
	"encoding/json"
	"path/filepath"
)

// cniVersion is the newest spec version Debian's plugins (1.1.1) speak.
const cniVersion = "1.0.0"

// conflist is the CNI configuration of a bridge network: the bridge plugin
// with host-local IPAM, nothing else. NAT out and the forwarding rules are
// not the bridge plugin's (ipMasq would add four iptables calls to every
// container start): rules.go sets them up once per network. Published ports
// are not portmap's either (about 14 iptables runs per ADD, 15 per DEL):
// publish.go adds and removes them in one iptables-restore each.
func conflist(n *Network, ipamDir string) []byte {
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
		// Hairpin lets a container reach its own published port through a
		// host address (the DNATed packet goes back out of the port it came in).
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"dataDir": ipamDir,
			"ranges":  [][]map[string]any{{rng}},
		},
	}
	b, _ := json.Marshal(map[string]any{
		"cniVersion": cniVersion,
		"name":       n.cniName(),
		"plugins":    []any{bridge},
	})
	return b
}

// conflistPath is where the generated conflist is kept beside the network,
// for a person (or cnitool) to read; the manager builds it from the network.
func conflistPath(dir string, n *Network) string {
	return filepath.Join(dir, n.ID+".conflist")
}
