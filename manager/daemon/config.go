// Package daemon is xmgr's daemon: it opens the stores under the data root,
// cleans up what a crash left, serves the API on its sockets, and shuts
// down gracefully. One daemon runs per data root and exec root, enforced by
// locks on both.
package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Config is the daemon's configuration (the flags of `xmgr daemon`).
type Config struct {
	// Hosts are the addresses to serve: unix:///path, tcp://host:port or
	// fd:// (sockets from systemd's socket activation).
	Hosts []string
	// DataRoot holds the persistent state: metadata, content, snapshots.
	DataRoot string
	// ExecRoot holds the pid file, the default socket and the log.
	ExecRoot string
	// StorageDriver is the snapshotter: "overlay2" (default) or "native".
	StorageDriver string
	// InsecureRegistries are reached over plain HTTP.
	InsecureRegistries []string
	// Group owns unix sockets (0660); "" keeps root's group.
	Group string
	Debug bool
	// Runtime is the OCI runtime of containers ("" = xrt beside
	// xrt-shim, then in PATH): a path or a name in PATH.
	Runtime string
	// BridgeSubnet and BridgeDevice are the default bridge network's
	// subnet (CIDR) and Linux bridge ("" = the network package's defaults).
	BridgeSubnet, BridgeDevice string
	// Version is the daemon's version string.
	Version string
}

// Defaults as dockerd's, with xmgr's names.
const (
	DefaultDataRoot = "/var/lib/xmgr"
	DefaultExecRoot = "/run/xmgr"
	DefaultDriver   = "overlay2"
)

// DefaultHost is the socket in the default exec root.
func DefaultHost(execRoot string) string {
	return "unix://" + filepath.Join(execRoot, "xmgr.sock")
}

func (c *Config) setDefaults() error {
	if c.DataRoot == "" {
		c.DataRoot = DefaultDataRoot
	}
	if c.ExecRoot == "" {
		c.ExecRoot = DefaultExecRoot
	}
	if c.StorageDriver == "" {
		c.StorageDriver = DefaultDriver
	}
	if len(c.Hosts) == 0 {
		c.Hosts = []string{DefaultHost(c.ExecRoot)}
	}
	var err error
	if c.DataRoot, err = filepath.Abs(c.DataRoot); err != nil {
		return err
	}
	if c.ExecRoot, err = filepath.Abs(c.ExecRoot); err != nil {
		return err
	}
	for _, h := range c.Hosts {
		if !strings.HasPrefix(h, "unix://") && !strings.HasPrefix(h, "tcp://") && !strings.HasPrefix(h, "fd://") {
			return fmt.Errorf("invalid host %q: want unix:///path, tcp://host:port or fd://", h)
		}
	}
	return nil
}
