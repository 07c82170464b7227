package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// Ping is what /_ping tells a client.
type Ping struct {
	APIVersion   string
	OSType       string
	Experimental bool
}

// Ping checks that the daemon answers.
func (c *Client) Ping(ctx context.Context) (Ping, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/_ping"})
	if err != nil {
		return Ping{}, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return Ping{
		APIVersion:   resp.Header.Get("Api-Version"),
		OSType:       resp.Header.Get("Ostype"),
		Experimental: resp.Header.Get("Docker-Experimental") == "true",
	}, nil
}

// Negotiate pings the daemon and uses the lower of its version and ours.
func (c *Client) Negotiate(ctx context.Context) error {
	p, err := c.Ping(ctx)
	if err != nil {
		return err
	}
	if p.APIVersion != "" && lessVersion(p.APIVersion, c.version) {
		c.version = p.APIVersion
	}
	return nil
}

func lessVersion(a, b string) bool {
	var am, an, bm, bn int
	if _, err := fmt.Sscanf(a, "%d.%d", &am, &an); err != nil {
		return false
	}
	if _, err := fmt.Sscanf(b, "%d.%d", &bm, &bn); err != nil {
		return false
	}
	return am < bm || (am == bm && an < bn)
}

// ServerVersion is GET /version.
func (c *Client) ServerVersion(ctx context.Context) (types.Version, error) {
	var v types.Version
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/version"}, &v)
	return v, err
}

// Info is GET /info.
func (c *Client) Info(ctx context.Context) (types.Info, error) {
	var v types.Info
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/info"}, &v)
	return v, err
}

// DiskUsage is GET /system/df.
func (c *Client) DiskUsage(ctx context.Context) (types.DiskUsage, error) {
	var v types.DiskUsage
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/system/df"}, &v)
	return v, err
}

// RegistryLogin is POST /auth.
func (c *Client) RegistryLogin(ctx context.Context, auth types.AuthConfig) (types.AuthenticateOKBody, error) {
	var v types.AuthenticateOKBody
	body, err := jsonBody(auth)
	if err != nil {
		return v, err
	}
	err = c.getJSON(ctx, request{method: http.MethodPost, path: "/auth", body: body, ctype: "application/json"}, &v)
	return v, err
}

// EventsOptions selects events: since/until as unix seconds or RFC 3339.
type EventsOptions struct {
	Since, Until string
	Filters      types.Filters
}

// Events follows GET /events; the stream is one JSON EventMessage a line.
// Close the reader (or cancel ctx) to stop.
func (c *Client) Events(ctx context.Context, opts EventsOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if opts.Since != "" {
		q.Set("since", opts.Since)
	}
	if opts.Until != "" {
		q.Set("until", opts.Until)
	}
	if f := opts.Filters.Encode(); f != "" {
		q.Set("filters", f)
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/events", query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// EncodeAuth makes the X-Registry-Auth header value for auth.
func EncodeAuth(auth types.AuthConfig) string {
	b, _ := json.Marshal(auth)
	return base64.URLEncoding.EncodeToString(b)
}
