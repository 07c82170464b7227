package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/build"
	"github.com/xrt-dev/xrt/manager/containers"
	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/registry"
	"github.com/xrt-dev/xrt/manager/snapshots"
)

// shutdownGrace is how long a shutdown waits for requests in flight (a
// pull, a save) before it cuts their connections; their contexts are then
// cancelled and they clean up after themselves.
const shutdownGrace = 10 * time.Second

// Daemon is a running xmgr daemon.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	locks  []*os.File
	db     *metadata.DB
	images *images.Service
	// containers is nil until New opened it.
	containers *containers.Manager
	builder    *build.Builder
	server     *server.Server
	http       *http.Server
	ls         []net.Listener
}

// New takes the locks, opens the stores and cleans up what a crash left:
// partial ingests (content.Open), half-made snapshots (layers.Cleanup) and
// blobs and layers no image references (images.GC). It does not listen
// yet.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Daemon, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log}
	t0 := time.Now()
	step := func(what string) {
		log.Debug("start-up", "step", what, "elapsed", time.Since(t0))
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}
	for _, p := range []string{filepath.Join(cfg.ExecRoot, "xmgr.pid"), filepath.Join(cfg.DataRoot, "xmgr.lock")} {
		f, err := lockFile(p)
		if err != nil {
			return nil, err
		}
		d.locks = append(d.locks, f)
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataRoot, "tmp"), 0o700); err != nil {
		return nil, err
	}
	step("locks")
	if d.db, err = metadata.Open(filepath.Join(cfg.DataRoot, "xmgr.db")); err != nil {
		return nil, fmt.Errorf("opening the metadata: %w", err)
	}
	step("metadata")
	cs, err := content.Open(filepath.Join(cfg.DataRoot, "content"))
	if err != nil {
		return nil, fmt.Errorf("opening the content store: %w", err)
	}
	step("content")
	sn, err := snapshots.New(cfg.StorageDriver, filepath.Join(cfg.DataRoot, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("storage driver %s: %w", cfg.StorageDriver, err)
	}
	driver := snapshots.Name(sn)
	if driver != cfg.StorageDriver {
		log.Warn("storage driver fell back", "wanted", cfg.StorageDriver, "using", driver)
	}
	step("snapshots")
	ls := layers.NewStore(d.db, cs, sn)
	if err := ls.Cleanup(ctx); err != nil {
		return nil, fmt.Errorf("cleaning up layers: %w", err)
	}
	step("layers cleanup")
	d.images = images.New(d.db, cs, ls)
	if n, err := d.images.GC(ctx); err != nil {
		log.Warn("garbage collection at start failed", "err", err)
	} else if n > 0 {
		log.Info("garbage collection at start", "reclaimed", n)
	}
	step("gc")
	if err := d.openContainers(ctx, ls, driver); err != nil {
		return nil, err
	}
	step("containers")
	reg := registry.New(registry.Options{Insecure: cfg.InsecureRegistries}, cs, ls, d.images)
	b := &backend{images: d.images, registry: reg, driver: driver}
	sys, err := newSystem(&d.cfg, driver, func(context.Context) int {
		list, err := d.images.List(images.ListFilter{All: true})
		if err != nil {
			return 0
		}
		return len(list)
	})
	if err != nil {
		return nil, err
	}
	builder := build.New(build.Config{
		Images: d.images, Layers: ls, Containers: d.containers,
		Pull: func(ctx context.Context, ref string, out io.Writer) (string, error) {
			return b.PullImage(ctx, ref, "", nil, out)
		},
		TempDir: filepath.Join(cfg.DataRoot, "tmp", "build"), Log: log,
	})
	if err := builder.Cleanup(ctx); err != nil {
		log.Warn("cleaning up interrupted builds", "err", err)
	}
	step("build cleanup")
	d.builder = builder
	d.server = server.New(server.Config{
		Images: b, Registry: b, System: sys, Builder: builder,
		Containers: d.containers, Networks: d.containers, Volumes: d.containers,
		ServerHeader: "xmgr/" + cfg.Version + " (linux)", Logger: log,
	})
	return d, nil
}

// Serve listens on the configured hosts and serves until ctx ends, then
// shuts down gracefully.
func (d *Daemon) Serve(ctx context.Context) error {
	defer d.close()
	for _, h := range d.cfg.Hosts {
		ls, err := listen(h, d.cfg.Group, d.log)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", h, err)
		}
		d.ls = append(d.ls, ls...)
	}
	d.http = &http.Server{
		Handler:           d.server,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, len(d.ls))
	var wg sync.WaitGroup
	for _, l := range d.ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving on %s: %w", l.Addr(), err)
			}
		}()
		d.log.Info("API listening", "addr", l.Addr().String())
	}
	if _, err := sddaemon.SdNotify(false, sddaemon.SdNotifyReady); err != nil {
		d.log.Warn("sd_notify READY failed", "err", err)
	}
	d.log.Info("daemon ready", "data-root", d.cfg.DataRoot, "exec-root", d.cfg.ExecRoot, "version", d.cfg.Version)
	var serveErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down")
	case serveErr = <-errc:
		d.log.Error("listener failed, shutting down", "err", serveErr)
	}
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
	d.server.Events().Close()
	d.builder.Shutdown() // builds stop and clean up before the wait below
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := d.http.Shutdown(sctx); err != nil {
		d.log.Warn("requests still running at shutdown; closing their connections", "err", err)
		_ = d.http.Close()
	}
	wg.Wait()
	return serveErr
}

// close releases what New and Serve took, last the locks. Unix sockets
// are removed so a client sees "no daemon" at once.
func (d *Daemon) close() {
	if d.containers != nil {
		d.containers.Close() // the containers keep running
		d.containers = nil
	}
	for _, h := range d.cfg.Hosts {
		if p, ok := cutUnix(h); ok && d.http != nil {
			_ = os.Remove(p)
		}
	}
	if d.db != nil {
		if err := d.db.Close(); err != nil {
			d.log.Warn("closing the metadata", "err", err)
		}
		d.db = nil
	}
	for _, f := range d.locks {
		f.Close()
	}
	d.locks = nil
}

func cutUnix(h string) (string, bool) {
	const p = "unix://"
	if len(h) > len(p) && h[:len(p)] == p {
		return h[len(p):], true
	}
	return "", false
}
