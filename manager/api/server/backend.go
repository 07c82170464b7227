package server

import (
	"context"
	"io"

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
