package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// ImageList is GET /images/json.
func (c *Client) ImageList(ctx context.Context, all bool, f types.Filters) ([]types.ImageSummary, error) {
	q := url.Values{}
	if all {
		q.Set("all", "1")
	}
	if e := f.Encode(); e != "" {
		q.Set("filters", e)
	}
	var v []types.ImageSummary
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/images/json", query: q}, &v)
	return v, err
}

// ImageInspect is GET /images/{name}/json; raw is the answer as sent, for
// `inspect` to print fields the types here do not know.
func (c *Client) ImageInspect(ctx context.Context, name string) (img types.ImageInspect, raw []byte, err error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/images/" + name + "/json"})
	if err != nil {
		return img, nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		return img, nil, err
	}
	err = json.Unmarshal(raw, &img)
	return img, raw, err
}

// ImageHistory is GET /images/{name}/history.
func (c *Client) ImageHistory(ctx context.Context, name string) ([]types.HistoryResponseItem, error) {
	var v []types.HistoryResponseItem
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/images/" + name + "/history"}, &v)
	return v, err
}

// ImageTag is POST /images/{name}/tag: target is "repo[:tag]".
func (c *Client) ImageTag(ctx context.Context, name, target string) error {
	repo, tag := splitTag(target)
	q := url.Values{"repo": {repo}}
	if tag != "" {
		q.Set("tag", tag)
	}
	return c.getJSON(ctx, request{method: http.MethodPost, path: "/images/" + name + "/tag", query: q}, nil)
}

// splitTag splits "host:5000/a:1" into "host:5000/a" and "1": the tag is
// after the last colon that follows the last slash.
func splitTag(ref string) (repo, tag string) {
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// ImageRemove is DELETE /images/{name}.
func (c *Client) ImageRemove(ctx context.Context, name string, force, noPrune bool) ([]types.ImageDeleteResponseItem, error) {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	if noPrune {
		q.Set("noprune", "1")
	}
	var v []types.ImageDeleteResponseItem
	err := c.getJSON(ctx, request{method: http.MethodDelete, path: "/images/" + name, query: q}, &v)
	return v, err
}

// ImagesPrune is POST /images/prune.
func (c *Client) ImagesPrune(ctx context.Context, f types.Filters) (types.ImagesPruneReport, error) {
	q := url.Values{}
	if e := f.Encode(); e != "" {
		q.Set("filters", e)
	}
	var v types.ImagesPruneReport
	err := c.getJSON(ctx, request{method: http.MethodPost, path: "/images/prune", query: q}, &v)
	return v, err
}

// ImagePull is POST /images/create?fromImage=: the answer is a JSON
// message stream (progress.Display draws it). auth may be nil.
func (c *Client) ImagePull(ctx context.Context, ref, platform string, auth *types.AuthConfig) (io.ReadCloser, error) {
	repo, tag := splitRef(ref)
	q := url.Values{"fromImage": {repo}}
	if tag != "" {
		q.Set("tag", tag)
	}
	if platform != "" {
		q.Set("platform", platform)
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/images/create", query: q, headers: authHeader(auth)})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// splitRef splits a reference into the repository and its tag or digest,
// as Docker's client sends them to /images/create.
func splitRef(ref string) (repo, tagOrDigest string) {
	if r, d, ok := strings.Cut(ref, "@"); ok {
		return r, d
	}
	return splitTag(ref)
}

// ImagePush is POST /images/{name}/push.
func (c *Client) ImagePush(ctx context.Context, ref string, auth *types.AuthConfig) (io.ReadCloser, error) {
	repo, tag := splitTag(ref)
	q := url.Values{}
	if tag != "" {
		q.Set("tag", tag)
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/images/" + repo + "/push", query: q, headers: authHeader(auth)})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func authHeader(auth *types.AuthConfig) map[string]string {
	if auth == nil {
		return nil
	}
	return map[string]string{"X-Registry-Auth": EncodeAuth(*auth)}
}

// ImageSave is GET /images/get: a tar of the images (format "" or
// "docker" for docker save's archive, "oci" for an OCI layout).
func (c *Client) ImageSave(ctx context.Context, names []string, format string) (io.ReadCloser, error) {
	q := url.Values{"names": names}
	if format != "" {
		q.Set("format", format)
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/images/get", query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImageLoad is POST /images/load: the answer is a JSON message stream.
func (c *Client) ImageLoad(ctx context.Context, tar io.Reader, quiet bool) (io.ReadCloser, error) {
	q := url.Values{}
	if quiet {
		q.Set("quiet", "1")
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/images/load", query: q, body: tar, ctype: "application/x-tar"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImportOptions are the parameters of an import.
type ImportOptions struct {
	// SourceURL, when set, has the daemon fetch the tar from an http(s)
	// URL instead of reading the request body.
	SourceURL string
	Ref       string   // "" for an untagged image
	Message   string   // the history comment
	Changes   []string // Dockerfile instructions: CMD, ENV, ...
	Platform  string
}

// ImageImport is POST /images/create?fromSrc=-: src is a rootfs tar; the
// answer is a JSON message stream ending with the image ID.
func (c *Client) ImageImport(ctx context.Context, src io.Reader, opts ImportOptions) (io.ReadCloser, error) {
	q := url.Values{"fromSrc": {"-"}}
	if opts.SourceURL != "" {
		q.Set("fromSrc", opts.SourceURL)
		src = nil
	}
	if opts.Ref != "" {
		repo, tag := splitTag(opts.Ref)
		q.Set("repo", repo)
		if tag != "" {
			q.Set("tag", tag)
		}
	}
	if opts.Message != "" {
		q.Set("message", opts.Message)
	}
	for _, ch := range opts.Changes {
		q.Add("changes", ch)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/images/create", query: q, body: src, ctype: "application/x-tar"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
