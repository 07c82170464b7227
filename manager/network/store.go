package network

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeFile replaces path atomically: a temporary file beside it, then a
// rename. sync also flushes it to disk first; endpoint records skip that
// because they describe namespaces that a reboot removes anyway.
func writeFile(path string, data []byte, sync bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil && sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any, sync bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, b, sync)
}

// saveNetwork writes the network and, for bridge networks, its conflist.
func (m *Manager) saveNetwork(n *network) error {
	if n.conf != nil {
		if err := writeFile(conflistPath(m.paths.networks, n.Network), n.conf.Bytes, true); err != nil {
			return err
		}
	}
	return writeJSON(filepath.Join(m.paths.networks, n.ID+".json"), n.Network, true)
}

func (m *Manager) endpointPath(key string) string {
	return filepath.Join(m.paths.endpoints, strings.ReplaceAll(key, "/", "_")+".json")
}

// load reads every network and endpoint record. A record that cannot be
// read is an error that names it: silently dropping it would leak its IP
// and iptables rules.
func (m *Manager) load() error {
	files, err := filepath.Glob(filepath.Join(m.paths.networks, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		var n Network
		if err := readJSON(f, &n); err != nil {
			return err
		}
		entry, err := m.prepare(&n)
		if err != nil {
			return err
		}
		m.networks[n.ID] = entry
	}
	files, err = filepath.Glob(filepath.Join(m.paths.endpoints, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		var ep Endpoint
		if err := readJSON(f, &ep); err != nil {
			return err
		}
		key := endpointKey(ep.ContainerID, ep.NetworkID)
		m.endpoints[key] = &ep
		for _, p := range ep.Ports {
			m.ports[keyOf(p)] = key
		}
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}
