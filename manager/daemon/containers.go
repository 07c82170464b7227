package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/containers"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/network"
	"github.com/xrt-dev/xrt/manager/volumes"
)

// openContainers opens networks, volumes and containers; the container
// service finds the running containers again through their shims.
func (d *Daemon) openContainers(ctx context.Context, ls *layers.Store, driver string) error {
	nw, err := network.New(ctx, network.Config{
		DataRoot: d.cfg.DataRoot, ExecRoot: d.cfg.ExecRoot,
		BridgeSubnet: d.cfg.BridgeSubnet, BridgeDevice: d.cfg.BridgeDevice,
	})
	if err != nil {
		return fmt.Errorf("networks: %w", err)
	}
	vs, err := volumes.New(filepath.Join(d.cfg.DataRoot, "volumes"))
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	publish := func(typ, action, id string, attrs map[string]string) {
		if d.server != nil {
			d.server.Events().Publish(typ, action, id, attrs)
		}
	}
	d.containers, err = containers.New(ctx, containers.Config{
		DataRoot: d.cfg.DataRoot, ExecRoot: d.cfg.ExecRoot,
		ShimBinary: besideSelf("xrt-shim"), Runtime: d.cfg.Runtime, InitBinary: besideSelf("xmgr-init"),
		Driver: driver,
		Images: d.images, Layers: ls, Network: nw, Volumes: vs,
		Events: publish, Log: d.log,
	})
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	vs.SetUsers(d.containers.VolumeUsers)
	d.images.InUse = func(id digest.Digest) (string, bool) { return d.containers.ImageUser(id.String()) }
	return nil
}

// besideSelf is the named program in the directory of the running binary
// when it is there (bin/ of a build, or an install's bindir), else "" so
// that the search in PATH decides.
func besideSelf(name string) string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), name)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		return p
	}
	return ""
}
