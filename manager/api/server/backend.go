package server

import (
	"context"
	"io"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// ImageBackend is what the local image endpoints need. The daemon adapts
// the image service to it; its answers are already in the API's shapes so
// that the handlers only move bytes and map errors.
type ImageBackend interface {
	// Images lists images; all includes intermediate ones. The filters
	// are dangling, reference, before, since and label.
	Images(ctx context.Context, all bool, f types.Filters) ([]*types.ImageSummary, error)
	ImageInspect(ctx context.Context, name string) (*types.ImageInspect, error)
	ImageHistory(ctx context.Context, name string) ([]*types.HistoryResponseItem, error)
	// TagImage gives the image name the (already combined) target
	// reference, "repo:tag".
	TagImage(ctx context.Context, name, target string) error
	ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]types.ImageDeleteResponseItem, error)
	// ImagesPrune removes dangling images (or all unused ones when the
	// dangling filter is "false"), filtered by until and label.
	ImagesPrune(ctx context.Context, f types.Filters) (*types.ImagesPruneReport, error)
	// ExportImages writes the images as a tar: format "" or "docker" is
	// docker save's archive, "oci" an OCI image layout.
	ExportImages(ctx context.Context, names []string, format string, w io.Writer) error
	// LoadImages reads a docker save or OCI layout tar, writes JSON
	// progress to out (nil when quiet) and returns what it loaded:
	// familiar references, or image IDs of untagged images.
	LoadImages(ctx context.Context, r io.Reader, out io.Writer) ([]string, error)
	// ImportImage makes a one-layer image from a rootfs tar; ref may be
	// empty (an untagged image). It returns the new image's ID.
	ImportImage(ctx context.Context, src io.Reader, ref, message string, changes []string, platform string) (string, error)
	SystemDiskUsage(ctx context.Context) (*types.DiskUsage, error)
}

// RegistryBackend is what pull, push and login need. auth is nil when the
// client sent no credentials; the backend then uses its own (the Docker
// config file of the daemon's user).
type RegistryBackend interface {
	// PullImage pulls ref ("busybox:latest", "host:5000/x@sha256:..")
	// for platform ("" = the daemon's), writing JSON progress to out, and
	// returns the image's ID.
	PullImage(ctx context.Context, ref, platform string, auth *types.AuthConfig, out io.Writer) (string, error)
	PushImage(ctx context.Context, ref string, auth *types.AuthConfig, out io.Writer) error
	// Login checks the credentials against the registry and returns
	// Docker's status line ("Login Succeeded") and an identity token, if
	// the registry gave one.
	Login(ctx context.Context, auth *types.AuthConfig) (status, token string, err error)
}

// SystemBackend answers /version and /info.
type SystemBackend interface {
	SystemVersion(ctx context.Context) types.Version
	SystemInfo(ctx context.Context) (*types.Info, error)
}

// ContainerListOptions are GET /containers/json's parameters.
type ContainerListOptions struct {
	All     bool
	Limit   int // 0: no limit
	Size    bool
	Filters types.Filters // id, name, label, label!, status, exited, health, ancestor, before, since, network, volume, publish, expose, is-task
}

// LogsOptions are GET /containers/{id}/logs's parameters.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Timestamps     bool
	Since, Until   time.Time // zero: unbounded
	Tail           int       // -1: all
	Details        bool
}

// LogMessage is one log entry: a line (with its newline) or a part of a
// long one.
type LogMessage struct {
	Stream string // "stdout" or "stderr"
	Line   []byte
	Time   time.Time
}

// AttachStreams are a hijacked connection's ends for attach and exec
// start. Stdout and Stderr are the same multiplexing writer's two
// streams when the process has no tty, both the raw connection when it
// has one; either is nil when not asked for. Stdin is nil unless asked
// for.
type AttachStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	DetachKeys     string
}

// AttachOptions are POST /containers/{id}/attach's parameters.
type AttachOptions struct {
	AttachStreams
	Logs   bool // first replay the log
	Stream bool // then stream live output
}

// CommitOptions are POST /commit's parameters.
type CommitOptions struct {
	Repo, Tag       string // may be empty: an untagged image
	Author, Comment string
	Pause           bool
	Changes         []string // Dockerfile instructions (CMD, ENV, ...)
	Config          *types.ContainerConfig
}

// ContainerBackend is what the container and exec endpoints need. Names
// are a container's name, full ID or unique ID prefix; errors carry
// errdefs kinds (NotFound 404, Conflict 409, Invalid 400, NotModified
// 304).
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, name string, req *types.ContainerCreateRequest) (*types.ContainerCreateResponse, error)
	ContainerList(ctx context.Context, opts ContainerListOptions) ([]*types.ContainerSummary, error)
	ContainerInspect(ctx context.Context, name string, size bool) (*types.ContainerJSON, error)
	// ContainerStart starts a created or stopped container; a running
	// one is NotModified.
	ContainerStart(ctx context.Context, name string) error
	// ContainerStop sends the stop signal, then SIGKILL after timeout
	// seconds (nil: the container's StopTimeout, else 10); a stopped
	// container is NotModified.
	ContainerStop(ctx context.Context, name string, timeout *int) error
	ContainerRestart(ctx context.Context, name string, timeout *int) error
	// ContainerKill sends signal ("" = SIGKILL; a name or a number).
	ContainerKill(ctx context.Context, name, signal string) error
	ContainerRemove(ctx context.Context, name string, force, removeVolumes bool) error
	// ContainerWait waits for condition ("", "not-running", "next-exit",
	// "removed"). The container is looked up before it returns, so a bad
	// name is an error; the answer then comes on the channel.
	ContainerWait(ctx context.Context, name, condition string) (<-chan types.ContainerWaitResponse, error)
	ContainerPause(ctx context.Context, name string) error
	ContainerUnpause(ctx context.Context, name string) error
	ContainerRename(ctx context.Context, name, newName string) error
	ContainerUpdate(ctx context.Context, name string, req *types.ContainerUpdateRequest) (*types.ContainerUpdateResponse, error)
	ContainerTop(ctx context.Context, name, psArgs string) (*types.ContainerTopResponse, error)
	// ContainerStats calls out with one sample (stream=false) or one a
	// second until ctx ends or the container stops.
	ContainerStats(ctx context.Context, name string, stream bool, out func(*types.StatsJSON) error) error
	// ContainerLogs calls out for each entry, following the log when
	// opts.Follow until the container stops or ctx ends.
	ContainerLogs(ctx context.Context, name string, opts LogsOptions, out func(LogMessage) error) error
	// ContainerAttach streams until the container exits, the client
	// detaches (detach keys) or ctx ends.
	ContainerAttach(ctx context.Context, name string, opts AttachOptions) error
	ContainerResize(ctx context.Context, name string, height, width int) error
	ContainerExport(ctx context.Context, name string, w io.Writer) error
	ContainerChanges(ctx context.Context, name string) ([]types.ContainerChange, error)
	// ContainerStatPath stats path in the container's filesystem.
	ContainerStatPath(ctx context.Context, name, path string) (*types.ContainerPathStat, error)
	// ContainerArchivePath returns a tar of path (GET .../archive).
	ContainerArchivePath(ctx context.Context, name, path string) (io.ReadCloser, *types.ContainerPathStat, error)
	// ContainerExtractToDir unpacks the tar into the directory path (PUT
	// .../archive).
	ContainerExtractToDir(ctx context.Context, name, path string, noOverwriteDirNonDir, copyUIDGID bool, tar io.Reader) error
	// ContainerCommit makes an image of the container's changes and
	// returns its ID.
	ContainerCommit(ctx context.Context, name string, opts CommitOptions) (string, error)
	ContainersPrune(ctx context.Context, f types.Filters) (*types.ContainersPruneReport, error)

	ExecCreate(ctx context.Context, name string, cfg *types.ExecConfig) (string, error)
	// ExecStart runs the exec; with detach it returns once the process
	// started, otherwise when it exits and its output is written.
	ExecStart(ctx context.Context, execID string, detach bool, streams AttachStreams) error
	ExecInspect(ctx context.Context, execID string) (*types.ExecInspect, error)
	ExecResize(ctx context.Context, execID string, height, width int) error
}

// NetworkBackend is what the network endpoints need.
type NetworkBackend interface {
	// NetworkList filters by driver, id, label, name, scope, type
	// (builtin, custom), dangling.
	NetworkList(ctx context.Context, f types.Filters) ([]*types.NetworkResource, error)
	NetworkInspect(ctx context.Context, idOrName string) (*types.NetworkResource, error)
	NetworkCreate(ctx context.Context, req *types.NetworkCreateRequest) (*types.NetworkCreateResponse, error)
	NetworkRemove(ctx context.Context, idOrName string) error
	NetworkConnect(ctx context.Context, idOrName, container string, ep *types.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, idOrName, container string, force bool) error
	NetworksPrune(ctx context.Context, f types.Filters) (*types.NetworksPruneReport, error)
}

// VolumeBackend is what the volume endpoints need.
type VolumeBackend interface {
	// VolumeList filters by dangling, driver, label, name.
	VolumeList(ctx context.Context, f types.Filters) (*types.VolumeListResponse, error)
	VolumeInspect(ctx context.Context, name string) (*types.Volume, error)
	VolumeCreate(ctx context.Context, req *types.VolumeCreateRequest) (*types.Volume, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	VolumesPrune(ctx context.Context, f types.Filters) (*types.VolumesPruneReport, error)
}
