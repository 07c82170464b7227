package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// NetworkList is GET /networks (filters: driver, id, label, name, scope,
// type, dangling).
func (c *Client) NetworkList(ctx context.Context, f types.Filters) ([]types.NetworkResource, error) {
	var v []types.NetworkResource
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/networks", query: filtersOnly(f)}, &v)
	return v, err
}

// NetworkInspect is GET /networks/{id}; raw is the answer as sent, for
// `inspect` to print it whole.
func (c *Client) NetworkInspect(ctx context.Context, idOrName string) (types.NetworkResource, []byte, error) {
	var v types.NetworkResource
	raw, err := c.decodeKeepRaw(ctx, request{method: http.MethodGet, path: "/networks/" + url.PathEscape(idOrName)}, &v)
	return v, raw, err
}

// NetworkCreate is POST /networks/create.
func (c *Client) NetworkCreate(ctx context.Context, req types.NetworkCreateRequest) (types.NetworkCreateResponse, error) {
	var v types.NetworkCreateResponse
	body, err := jsonBody(req)
	if err != nil {
		return v, err
	}
	err = c.getJSON(ctx, request{method: http.MethodPost, path: "/networks/create", body: body, ctype: "application/json"}, &v)
	return v, err
}

// NetworkRemove is DELETE /networks/{id}.
func (c *Client) NetworkRemove(ctx context.Context, idOrName string) error {
	return c.getJSON(ctx, request{method: http.MethodDelete, path: "/networks/" + url.PathEscape(idOrName)}, nil)
}

// NetworkConnect is POST /networks/{id}/connect; ep may be nil.
func (c *Client) NetworkConnect(ctx context.Context, idOrName, container string, ep *types.EndpointSettings) error {
	body, err := jsonBody(types.NetworkConnectRequest{Container: container, EndpointConfig: ep})
	if err != nil {
		return err
	}
	return c.getJSON(ctx, request{method: http.MethodPost, path: "/networks/" + url.PathEscape(idOrName) + "/connect",
		body: body, ctype: "application/json"}, nil)
}

// NetworkDisconnect is POST /networks/{id}/disconnect.
func (c *Client) NetworkDisconnect(ctx context.Context, idOrName, container string, force bool) error {
	body, err := jsonBody(types.NetworkDisconnectRequest{Container: container, Force: force})
	if err != nil {
		return err
	}
	return c.getJSON(ctx, request{method: http.MethodPost, path: "/networks/" + url.PathEscape(idOrName) + "/disconnect",
		body: body, ctype: "application/json"}, nil)
}

// NetworksPrune is POST /networks/prune (filters: until, label).
func (c *Client) NetworksPrune(ctx context.Context, f types.Filters) (types.NetworksPruneReport, error) {
	var v types.NetworksPruneReport
	err := c.getJSON(ctx, request{method: http.MethodPost, path: "/networks/prune", query: filtersOnly(f)}, &v)
	return v, err
}

// filtersOnly is the query of a list or prune call: filters, if any.
func filtersOnly(f types.Filters) url.Values {
	q := url.Values{}
	if e := f.Encode(); e != "" {
		q.Set("filters", e)
	}
	return q
}
