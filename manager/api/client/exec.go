package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func execPath(id, rest string) string { return "/exec/" + url.PathEscape(id) + rest }

// ContainerExecCreate is POST /containers/{name}/exec: it returns the
// exec's ID.
func (c *Client) ContainerExecCreate(ctx context.Context, name string, cfg types.ExecConfig) (string, error) {
	body, err := jsonBody(cfg)
	if err != nil {
		return "", err
	}
	var v types.IDResponse
	err = c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/exec"), body: body, ctype: "application/json"}, &v)
	return v.ID, err
}

// ContainerExecStart is POST /exec/{id}/start for a detached exec: it
// returns once the process started.
func (c *Client) ContainerExecStart(ctx context.Context, id string, req types.ExecStartRequest) error {
	req.Detach = true
	body, err := jsonBody(req)
	if err != nil {
		return err
	}
	return c.getJSON(ctx, request{method: http.MethodPost, path: execPath(id, "/start"), body: body, ctype: "application/json"}, nil)
}

// ContainerExecAttach is POST /exec/{id}/start, upgraded to a raw
// connection carrying the process's input and output.
func (c *Client) ContainerExecAttach(ctx context.Context, id string, req types.ExecStartRequest) (HijackedResponse, error) {
	req.Detach = false
	body, err := jsonBody(req)
	if err != nil {
		return HijackedResponse{}, err
	}
	return c.hijack(ctx, request{method: http.MethodPost, path: execPath(id, "/start"), body: body, ctype: "application/json"})
}

// ContainerExecInspect is GET /exec/{id}/json.
func (c *Client) ContainerExecInspect(ctx context.Context, id string) (types.ExecInspect, error) {
	var v types.ExecInspect
	err := c.getJSON(ctx, request{method: http.MethodGet, path: execPath(id, "/json")}, &v)
	return v, err
}

// ContainerExecResize is POST /exec/{id}/resize: the exec's tty size.
func (c *Client) ContainerExecResize(ctx context.Context, id string, height, width uint) error {
	return c.getJSON(ctx, request{method: http.MethodPost, path: execPath(id, "/resize"), query: sizeQuery(height, width)}, nil)
}
