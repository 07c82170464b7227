package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// VolumeList is GET /volumes (filters: dangling, driver, label, name).
func (c *Client) VolumeList(ctx context.Context, f types.Filters) (types.VolumeListResponse, error) {
	var v types.VolumeListResponse
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/volumes", query: filtersOnly(f)}, &v)
	return v, err
}

// VolumeInspect is GET /volumes/{name}; raw is the answer as sent.
func (c *Client) VolumeInspect(ctx context.Context, name string) (types.Volume, []byte, error) {
	var v types.Volume
	raw, err := c.decodeKeepRaw(ctx, request{method: http.MethodGet, path: "/volumes/" + url.PathEscape(name)}, &v)
	return v, raw, err
}

// VolumeCreate is POST /volumes/create; an empty Name has the daemon
// pick one.
func (c *Client) VolumeCreate(ctx context.Context, req types.VolumeCreateRequest) (types.Volume, error) {
	var v types.Volume
	body, err := jsonBody(req)
	if err != nil {
		return v, err
	}
	err = c.getJSON(ctx, request{method: http.MethodPost, path: "/volumes/create", body: body, ctype: "application/json"}, &v)
	return v, err
}

// VolumeRemove is DELETE /volumes/{name}.
func (c *Client) VolumeRemove(ctx context.Context, name string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.getJSON(ctx, request{method: http.MethodDelete, path: "/volumes/" + url.PathEscape(name), query: q}, nil)
}

// VolumesPrune is POST /volumes/prune (filters: label, all).
func (c *Client) VolumesPrune(ctx context.Context, f types.Filters) (types.VolumesPruneReport, error) {
	var v types.VolumesPruneReport
	err := c.getJSON(ctx, request{method: http.MethodPost, path: "/volumes/prune", query: filtersOnly(f)}, &v)
	return v, err
}
