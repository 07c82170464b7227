package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// Cleanup removes what builds interrupted by a crash left: the containers
// of RUN steps (the daemon found them again, running or not), mounts and
// directories under TempDir, and "build-" snapshots. Run it at start-up,
// once the containers are loaded and before any build.
func (b *Builder) Cleanup(ctx context.Context) error {
	var errs []error
	f := types.NewFilters()
	f.Add("label", stepLabel)
	steps, err := b.cfg.Containers.ContainerList(ctx, server.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range steps {
		if err := b.cfg.Containers.ContainerRemove(ctx, c.ID, true, true); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("build step container %s: %w", c.ID, err))
		}
	}
	if ents, err := os.ReadDir(b.cfg.TempDir); err == nil {
		for _, e := range ents {
			p := filepath.Join(b.cfg.TempDir, e.Name())
			snapshots.Unmount(p) // a rootfs or --from mount, if still there
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		}
	} else if !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	if err := os.MkdirAll(b.cfg.TempDir, 0o700); err != nil {
		errs = append(errs, err)
	}
	sn := b.cfg.Layers.Snapshotter()
	var keys []string
	sn.Walk(func(info snapshots.Info) error {
		if strings.HasPrefix(info.Key, "build-") {
			keys = append(keys, info.Key)
		}
		return nil
	})
	for _, k := range keys {
		if err := sn.Remove(k); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
