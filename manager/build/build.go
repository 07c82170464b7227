// Package build runs Dockerfile builds the way Docker 20.10's classic
// builder does: every instruction makes an image whose parent is the
// previous one, RUN steps run in real containers (the same container path
// as `xmgr run`), COPY, ADD and WORKDIR write into a snapshot of the
// current image, and each image's changes become a layer taken with the
// layer store's Diff, the code `xmgr commit` uses. A step whose parent
// and run config match an earlier build's is taken from the cache, or,
// with --cache-from, from the history of a named image (cachefrom.go).
//
// Parsing is buildkit's (parser, instructions, shell); execution is ours.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/build/buildcontext"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/layers"
)

// Containers is what RUN steps need of the container service.
type Containers interface {
	ContainerCreate(ctx context.Context, name string, req *types.ContainerCreateRequest) (*types.ContainerCreateResponse, error)
	ContainerAttach(ctx context.Context, name string, opts server.AttachOptions) error
	ContainerStart(ctx context.Context, name string) error
	ContainerWait(ctx context.Context, name, condition string) (<-chan types.ContainerWaitResponse, error)
	ContainerRemove(ctx context.Context, name string, force, removeVolumes bool) error
	ContainerList(ctx context.Context, opts server.ContainerListOptions) ([]*types.ContainerSummary, error)
	// ContainerSnapshot names a container's writable snapshot and the
	// layer it sits on.
	ContainerSnapshot(name string) (key string, parent digest.Digest, err error)
}

// Config wires a Builder to the daemon's services.
type Config struct {
	Images     *images.Service
	Layers     *layers.Store
	Containers Containers
	// Pull fetches an image FROM or COPY --from names when it is missing
	// (or always, with --pull), writing JSON progress to out.
	Pull func(ctx context.Context, ref string, out io.Writer) (string, error)
	// TempDir holds build contexts and the mount points of snapshots.
	TempDir string
	Log     *slog.Logger
}

// Builder builds images; it implements server.BuildBackend.
type Builder struct {
	cfg Config
	// alive ends at Shutdown, and with it every build.
	alive    context.Context
	shutdown context.CancelFunc
}

// New returns a builder.
func New(cfg Config) *Builder {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	b := &Builder{cfg: cfg}
	b.alive, b.shutdown = context.WithCancel(context.Background())
	return b
}

// Shutdown cancels the builds in progress: each removes its step
// container and answers that the daemon is going away. The daemon calls
// it before it waits for its requests.
func (b *Builder) Shutdown() { b.shutdown() }

// Build builds the Dockerfile of the context read from r and returns the
// ID of the image of the target stage (the last one by default).
func (b *Builder) Build(ctx context.Context, opts server.BuildOptions, r io.Reader, out io.Writer) (id string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.alive, cancel)()
	defer func() {
		if err != nil && b.alive.Err() != nil {
			err = fmt.Errorf("build cancelled: the daemon is shutting down (%w)", err)
		}
	}()
	o := newOutput(out)
	if opts.Platform != "" {
		if err := checkPlatform(opts.Platform); err != nil {
			return "", err
		}
	}
	tb := time.Now()
	bc, err := buildcontext.Open(ctx, r, b.cfg.TempDir, opts.Dockerfile)
	if err != nil {
		return "", errdefs.Invalid("%v", err)
	}
	defer bc.Close()
	// Read the body to its end (a tar's padding, what trails a gzip
	// stream): only then does the HTTP server watch the connection, and
	// cancel ctx when the client goes away mid-build.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", err
	}
	received := time.Since(tb)
	defer func() { b.cfg.Log.Debug("build", "context", received, "total", time.Since(tb), "err", err) }()

	// Errors name the Dockerfile as the user gave it; one sent from
	// stdin or from outside the context travels under a random name.
	name := opts.Dockerfile
	if name == "" || strings.HasPrefix(path.Base(name), ".dockerfile.") {
		name = "Dockerfile"
	}
	df, err := parseDockerfile(bc.Dockerfile(), name)
	if err != nil {
		return "", err
	}
	stages, err := df.upTo(opts.Target)
	if err != nil {
		return "", err
	}
	addLabels(stages, opts.Labels)

	bd := &build{
		b: b, ctx: ctx, opts: opts, out: o, df: df, context: bc,
		args:      newBuildArgs(opts.BuildArgs),
		cacheFrom: b.resolveCacheFrom(opts, o),
		stages:    map[string]*stage{},
	}
	bd.total = len(df.metaArgs) + len(stages)
	for _, s := range stages {
		bd.total += len(s.Commands)
	}
	defer bd.cleanup()

	img, err := bd.run(stages)
	if err != nil {
		return "", err
	}
	if unused := bd.args.unused(); len(unused) > 0 {
		o.printf("[Warning] One or more build-args %v were not consumed\n", unused)
	}
	o.aux(img.ID.String())
	o.printf("Successfully built %s\n", images.ShortID(img.ID))
	for _, t := range opts.Tags {
		if err := b.cfg.Images.Tag(img.ID.String(), t); err != nil {
			return "", err
		}
		o.printf("Successfully tagged %s\n", familiar(t))
	}
	return img.ID.String(), nil
}

// BuildCachePrune drops the build cache and the intermediate images only
// it kept.
func (b *Builder) BuildCachePrune(ctx context.Context, all bool) (int64, error) {
	return b.cfg.Images.CachePrune(ctx, all)
}

// familiar is a tag as Docker prints it after a build: with ":latest".
func familiar(tag string) string {
	last := tag[strings.LastIndexByte(tag, '/')+1:]
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		return tag + ":latest"
	}
	return tag
}

// addLabels appends one LABEL step per --label to the target stage, sorted
// by key, as Docker does (their values are not expanded).
func addLabels(stages []instructions.Stage, labels map[string]string) {
	if len(labels) == 0 || len(stages) == 0 {
		return
	}
	for _, k := range sortedKeys(labels) {
		stages[len(stages)-1].AddCommand(instructions.NewLabelCommand(k, labels[k], true))
	}
}

// stepError is a failed step: Docker's message with the Dockerfile line
// in front, and the exit code of a failed RUN (the CLI exits with it).
type stepError struct {
	file string
	line int
	code int
	err  error
}

func (e *stepError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.file, e.line, e.err)
	}
	return e.err.Error()
}

func (e *stepError) Unwrap() error { return e.err }

// ExitCode is the exit code of a failed RUN, 0 for other failures.
func (e *stepError) ExitCode() int { return e.code }

// exitError is a RUN whose command failed.
type exitError struct {
	cmd  []string
	code int
}

func (e *exitError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(e.cmd, " "), e.code)
}

// stepFailed wraps a step's error with its Dockerfile line (loc).
func stepFailed(file string, loc []parser.Range, err error) error {
	var se *stepError
	if errors.As(err, &se) {
		return err
	}
	e := &stepError{file: file, err: err}
	if len(loc) > 0 {
		e.line = loc[0].Start.Line
	}
	var ee *exitError
	if errors.As(err, &ee) {
		e.code = ee.code
	}
	return e
}
