package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/build"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/registry"
)

// backend adapts the image service and the registry client to the API
// server's interfaces: it translates filters to the service's terms and
// the service's images to the API's shapes.
type backend struct {
	images   *images.Service
	registry *registry.Registry
	driver   string
}

// summary is an image as /images/json lists it. Docker's daemon reports
// untagged images with the "<none>" placeholders, and old clients rely on
// them.
func summary(img *images.Image) *types.ImageSummary {
	s := &types.ImageSummary{
		ID:          img.ID.String(),
		ParentID:    img.Parent,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Created:     img.Created.Unix(),
		Size:        img.Size,
		VirtualSize: img.Size,
		SharedSize:  -1,
		Containers:  -1,
		Labels:      img.Config.Config.Labels,
	}
	if len(s.RepoTags) == 0 {
		s.RepoTags = []string{"<none>:<none>"}
		if len(s.RepoDigests) == 0 {
			s.RepoDigests = []string{"<none>@<none>"}
		}
	}
	if s.RepoDigests == nil {
		s.RepoDigests = []string{}
	}
	return s
}

// boolFilter reads a true/false filter value as dockerd does.
func boolFilter(f types.Filters, key string) (*bool, error) {
	vs := f.Get(key)
	if len(vs) == 0 {
		return nil, nil
	}
	if len(vs) > 1 {
		return nil, errdefs.Invalid("filter %s takes one value, got %d", key, len(vs))
	}
	switch strings.ToLower(vs[0]) {
	case "true", "1":
		t := true
		return &t, nil
	case "false", "0":
		f := false
		return &f, nil
	}
	return nil, errdefs.Invalid("invalid filter '%s=%s'", key, vs[0])
}

func single(f types.Filters, key string) (string, error) {
	vs := f.Get(key)
	if len(vs) > 1 {
		return "", errdefs.Invalid("filter %s takes one value, got %d", key, len(vs))
	}
	if len(vs) == 0 {
		return "", nil
	}
	return vs[0], nil
}

func listFilter(all bool, f types.Filters) (images.ListFilter, error) {
	lf := images.ListFilter{All: all, Reference: f.Get("reference"), Label: f.Get("label"), LabelNot: f.Get("label!")}
	var err error
	if lf.Dangling, err = boolFilter(f, "dangling"); err != nil {
		return lf, err
	}
	if lf.Before, err = single(f, "before"); err != nil {
		return lf, err
	}
	if lf.Since, err = single(f, "since"); err != nil {
		return lf, err
	}
	if lf.Until, err = single(f, "until"); err != nil {
		return lf, err
	}
	return lf, nil
}

func (b *backend) Images(_ context.Context, all bool, f types.Filters) ([]*types.ImageSummary, error) {
	lf, err := listFilter(all, f)
	if err != nil {
		return nil, err
	}
	list, err := b.images.List(lf)
	if err != nil {
		return nil, err
	}
	out := make([]*types.ImageSummary, 0, len(list))
	for _, img := range list {
		out = append(out, summary(img))
	}
	return out, nil
}

// dockerConfig holds the parts of an image config that Docker's inspect
// shows and the OCI types do not carry as Docker names them.
type dockerConfig struct {
	Config          *types.ContainerConfig `json:"config"`
	ContainerConfig *types.ContainerConfig `json:"container_config"`
	Container       string                 `json:"container"`
	OSVersion       string                 `json:"os.version"`
	Variant         string                 `json:"variant"`
}

func (b *backend) ImageInspect(_ context.Context, name string) (*types.ImageInspect, error) {
	img, err := b.images.Resolve(name)
	if err != nil {
		return nil, err
	}
	var dc dockerConfig
	if err := json.Unmarshal(img.RawConfig, &dc); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.ID, err)
	}
	if dc.Config == nil {
		dc.Config = &types.ContainerConfig{}
	}
	if dc.ContainerConfig == nil {
		dc.ContainerConfig = &types.ContainerConfig{}
	}
	created := ""
	if img.Config.Created != nil {
		created = img.Config.Created.UTC().Format(time.RFC3339Nano)
	}
	diffIDs := make([]string, len(img.DiffIDs))
	for i, d := range img.DiffIDs {
		diffIDs[i] = d.String()
	}
	tags, digests := img.RepoTags, img.RepoDigests
	if tags == nil {
		tags = []string{}
	}
	if digests == nil {
		digests = []string{}
	}
	return &types.ImageInspect{
		ID: img.ID.String(), RepoTags: tags, RepoDigests: digests,
		Parent: img.Parent, Comment: img.Comment, Created: created,
		Container: dc.Container, ContainerConfig: dc.ContainerConfig,
		DockerVersion: img.DockerVersion, Author: img.Author, Config: dc.Config,
		Architecture: img.Config.Architecture, Variant: img.Config.Variant, Os: img.Config.OS,
		OsVersion: img.Config.OSVersion,
		Size:      img.Size, VirtualSize: img.Size,
		GraphDriver: types.GraphDriverData{Name: b.driver, Data: map[string]string{}},
		RootFS:      types.RootFS{Type: "layers", Layers: diffIDs},
	}, nil
}

func (b *backend) ImageHistory(_ context.Context, name string) ([]*types.HistoryResponseItem, error) {
	items, err := b.images.History(name)
	if err != nil {
		return nil, err
	}
	out := make([]*types.HistoryResponseItem, 0, len(items))
	for _, h := range items {
		tags := h.Tags
		if tags == nil {
			tags = []string{}
		}
		out = append(out, &types.HistoryResponseItem{
			ID: h.ID, Created: h.Created.Unix(), CreatedBy: h.CreatedBy,
			Tags: tags, Size: h.Size, Comment: h.Comment,
		})
	}
	return out, nil
}

func (b *backend) TagImage(_ context.Context, name, target string) error {
	return b.images.Tag(name, target)
}

func deleteItems(items []images.DeleteItem) []types.ImageDeleteResponseItem {
	out := make([]types.ImageDeleteResponseItem, len(items))
	for i, it := range items {
		out[i] = types.ImageDeleteResponseItem{Untagged: it.Untagged, Deleted: it.Deleted}
	}
	return out
}

func (b *backend) ImageDelete(_ context.Context, name string, force, noPrune bool) ([]types.ImageDeleteResponseItem, error) {
	items, err := b.images.Remove(name, force, noPrune)
	if err != nil {
		return nil, err
	}
	return deleteItems(items), nil
}

// ImagesPrune: dangling defaults to true; "false" prunes every unused
// image, as `docker image prune -a`.
func (b *backend) ImagesPrune(_ context.Context, f types.Filters) (*types.ImagesPruneReport, error) {
	dangling := true
	d, err := boolFilter(f, "dangling")
	if err != nil {
		return nil, err
	}
	if d != nil {
		dangling = *d
	}
	rest := types.NewFilters()
	for _, k := range []string{"until", "label", "label!"} {
		for _, v := range f.Get(k) {
			rest.Add(k, v)
		}
	}
	lf, err := listFilter(false, rest)
	if err != nil {
		return nil, err
	}
	items, reclaimed, err := b.images.Prune(dangling, lf)
	if err != nil {
		return nil, err
	}
	return &types.ImagesPruneReport{ImagesDeleted: deleteItems(items), SpaceReclaimed: uint64(max(reclaimed, 0))}, nil
}

func (b *backend) ExportImages(ctx context.Context, names []string, format string, w io.Writer) error {
	sf := images.SaveDocker
	switch format {
	case "", "docker":
	case "oci":
		sf = images.SaveOCI
	default:
		return errdefs.Invalid("unknown save format %q: want docker or oci", format)
	}
	return b.images.Save(ctx, w, names, sf)
}

func (b *backend) LoadImages(ctx context.Context, r io.Reader, out io.Writer) ([]string, error) {
	sink := progress.Discard
	if out != nil {
		sink = progress.NewJSON(out)
	}
	return b.images.Load(ctx, r, sink)
}

func (b *backend) ImportImage(ctx context.Context, src io.Reader, ref, message string, changes []string, platform string) (string, error) {
	var p ocispec.Platform
	if platform != "" {
		pp, err := registry.ParsePlatform(platform)
		if err != nil {
			return "", err
		}
		p = *pp
	}
	var cfg dockerspec.DockerOCIImageConfig
	if err := build.ApplyChanges(&cfg, changes); err != nil {
		return "", err
	}
	img, err := b.images.Import(ctx, src, ref, cfg, message, p)
	if err != nil {
		return "", err
	}
	return img.ID.String(), nil
}

func (b *backend) SystemDiskUsage(ctx context.Context) (*types.DiskUsage, error) {
	du, err := b.images.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	out := &types.DiskUsage{LayersSize: du.LayersSize, Containers: []any{}, Volumes: []any{}, BuildCache: []any{}}
	for _, iu := range du.Images {
		s := summary(iu.Image)
		s.SharedSize = iu.SharedSize
		s.Containers = int64(iu.Containers)
		out.Images = append(out.Images, s)
	}
	sort.Slice(out.Images, func(i, j int) bool { return out.Images[i].Created > out.Images[j].Created })
	if out.Images == nil {
		out.Images = []*types.ImageSummary{}
	}
	return out, nil
}

// withAuth passes the client's credentials to the registry client.
func withAuth(ctx context.Context, auth *types.AuthConfig) context.Context {
	if auth == nil {
		return ctx
	}
	return registry.WithAuth(ctx, registry.AuthConfig(*auth))
}

func (b *backend) PullImage(ctx context.Context, ref, platform string, auth *types.AuthConfig, out io.Writer) (string, error) {
	var p *ocispec.Platform
	if platform != "" {
		var err error
		if p, err = registry.ParsePlatform(platform); err != nil {
			return "", err
		}
	}
	img, err := b.registry.Pull(withAuth(ctx, auth), ref, p, progress.NewJSON(out))
	if err != nil {
		return "", err
	}
	return img.ID.String(), nil
}

func (b *backend) PushImage(ctx context.Context, ref string, auth *types.AuthConfig, out io.Writer) error {
	return b.registry.Push(withAuth(ctx, auth), ref, progress.NewJSON(out))
}

func (b *backend) Login(ctx context.Context, auth *types.AuthConfig) (string, string, error) {
	user, pass := auth.Username, auth.Password
	if user == "" && pass == "" && auth.Auth != "" {
		u, p, err := decodeBasic(auth.Auth)
		if err != nil {
			return "", "", err
		}
		user, pass = u, p
	}
	status, err := b.registry.Login(ctx, auth.ServerAddress, user, pass)
	return status, "", err
}
