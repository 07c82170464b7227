package containers

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/xrt-dev/xrt/bundle"
	"github.com/xrt-dev/xrt/manager/network"
)

// hostResolvConf and hostHosts are the host's files a container's are
// made from.
const (
	hostResolvConf = "/etc/resolv.conf"
	hostHosts      = "/etc/hosts"
)

// writeHostname writes the container's /etc/hostname.
func (m *Manager) writeHostname(c *Container) error {
	c.mu.Lock()
	path, name := c.HostnamePath, c.Config.Hostname
	c.mu.Unlock()
	return writeInPlace(path, []byte(name+"\n"))
}

// writeResolvConf writes the container's /etc/resolv.conf from the
// host's and --dns, --dns-search, --dns-option. With host networking the
// host's file is copied as it is.
func (m *Manager) writeResolvConf(c *Container) error {
	c.mu.Lock()
	path, hc := c.ResolvConfPath, c.HostConfig
	dns, search, opts := hc.DNS, hc.DNSSearch, hc.DNSOptions
	host := hc.NetworkMode == netHost
	c.mu.Unlock()
	data, err := os.ReadFile(hostResolvConf)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if !host || len(dns)+len(search)+len(opts) > 0 {
		data = bundle.ResolvConf(data, dns, search, opts)
	}
	return writeInPlace(path, data)
}

// writeHosts writes the container's /etc/hosts: localhost, --add-host,
// the peers on its user-defined networks (name and aliases) and its own
// addresses. With host networking it is the host's file plus --add-host.
func (m *Manager) writeHosts(c *Container) error {
	c.mu.Lock()
	path, id := c.HostsPath, c.ID
	hostname := c.Config.Hostname
	if d := c.Config.Domainname; d != "" {
		hostname = hostname + "." + d + " " + hostname
	}
	extraHosts := slices.Clone(c.HostConfig.ExtraHosts)
	host := c.HostConfig.NetworkMode == netHost
	c.mu.Unlock()

	var extra []bundle.HostEntry
	for _, h := range extraHosts {
		name, ip, _ := strings.Cut(h, ":")
		extra = append(extra, bundle.HostEntry{IP: ip, Names: []string{name}})
	}
	if host {
		data, err := os.ReadFile(hostHosts)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, e := range extra {
			data = append(data, []byte(e.IP+"\t"+strings.Join(e.Names, " ")+"\n")...)
		}
		return writeInPlace(path, data)
	}
	var ips []string
	for _, ep := range m.cfg.Network.Endpoints(id) {
		if ep.IP != "" {
			ips = append(ips, ep.IP)
		}
		if !userNetwork(ep.NetworkName) {
			continue
		}
		for _, peer := range m.cfg.Network.NetworkEndpoints(ep.NetworkName) {
			if peer.ContainerID == id || peer.IP == "" {
				continue
			}
			names := append([]string{peer.ContainerName}, peer.Aliases...)
			extra = append(extra, bundle.HostEntry{IP: peer.IP, Names: names})
		}
	}
	return writeInPlace(path, bundle.HostsFile(hostname, ips, extra))
}

// userNetwork reports whether a network is user-defined: only there do
// containers find each other by name.
func userNetwork(name string) bool {
	return name != network.BridgeName && name != network.HostName && name != network.NoneName
}

// refreshPeers rewrites the hosts files of the running containers on the
// user-defined networks of eps (but not of self), after self joined or
// left them.
func (m *Manager) refreshPeers(self string, networks []string) {
	done := map[string]bool{self: true}
	for _, name := range networks {
		if !userNetwork(name) {
			continue
		}
		for _, peer := range m.cfg.Network.NetworkEndpoints(name) {
			if done[peer.ContainerID] {
				continue
			}
			done[peer.ContainerID] = true
			c, err := m.get(peer.ContainerID)
			if err != nil {
				continue
			}
			m.hostsMu.Lock()
			err = m.writeHosts(c)
			m.hostsMu.Unlock()
			if err != nil {
				m.log.Warn("updating a peer's hosts file", "container", peer.ContainerID, "err", err)
			}
		}
	}
}

// writeInPlace replaces a file's content without replacing the file: the
// hosts files are bind-mounted into running containers, and a rename
// would leave them with the old file.
func writeInPlace(path string, data []byte) error {
	return os.WriteFile(path, data, 0o644)
}

// addMtab links /etc/mtab to /proc/mounts when the image has an /etc
// without one, as Docker's init layer does (df and mount read it). Diffs
// leave the link out (layers.Store.Diff), so no commit or build keeps it.
func addMtab(rootfs string) {
	etc, err := securejoin.SecureJoin(rootfs, "etc")
	if err != nil {
		return
	}
	if fi, err := os.Lstat(etc); err != nil || !fi.IsDir() {
		return
	}
	mtab := filepath.Join(etc, "mtab")
	if _, err := os.Lstat(mtab); os.IsNotExist(err) {
		os.Symlink("/proc/mounts", mtab)
	}
}
