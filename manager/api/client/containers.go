package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// containerPath is /containers/{name}{rest} with the name escaped.
func containerPath(name, rest string) string {
	return "/containers/" + url.PathEscape(name) + rest
}

// decodeKeepRaw makes a request and returns the JSON answer as sent, also
// decoded into v, for inspect to print fields the types here do not know.
func (c *Client) decodeKeepRaw(ctx context.Context, rq request, v any) ([]byte, error) {
	resp, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", rq.method, rq.path, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("%s %s: decoding the answer: %w", rq.method, rq.path, err)
	}
	return raw, nil
}

func boolQuery(q url.Values, key string, v bool) {
	if v {
		q.Set(key, "1")
	}
}

// ContainerCreate is POST /containers/create; name may be empty (the
// daemon picks one), platform too.
func (c *Client) ContainerCreate(ctx context.Context, name, platform string, req *types.ContainerCreateRequest) (types.ContainerCreateResponse, error) {
	var v types.ContainerCreateResponse
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if platform != "" {
		q.Set("platform", platform)
	}
	body, err := jsonBody(req)
	if err != nil {
		return v, err
	}
	err = c.getJSON(ctx, request{method: http.MethodPost, path: "/containers/create", query: q, body: body, ctype: "application/json"}, &v)
	return v, err
}

// ContainerListOptions are GET /containers/json's parameters.
type ContainerListOptions struct {
	All     bool
	Limit   int // 0: no limit
	Size    bool
	Filters types.Filters
}

// ContainerList is GET /containers/json.
func (c *Client) ContainerList(ctx context.Context, opts ContainerListOptions) ([]types.ContainerSummary, error) {
	q := url.Values{}
	boolQuery(q, "all", opts.All)
	boolQuery(q, "size", opts.Size)
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if e := opts.Filters.Encode(); e != "" {
		q.Set("filters", e)
	}
	var v []types.ContainerSummary
	err := c.getJSON(ctx, request{method: http.MethodGet, path: "/containers/json", query: q}, &v)
	return v, err
}

// ContainerInspect is GET /containers/{name}/json; raw is the answer as
// sent. size asks for SizeRw and SizeRootFs.
func (c *Client) ContainerInspect(ctx context.Context, name string, size bool) (types.ContainerJSON, []byte, error) {
	q := url.Values{}
	boolQuery(q, "size", size)
	var v types.ContainerJSON
	raw, err := c.decodeKeepRaw(ctx, request{method: http.MethodGet, path: containerPath(name, "/json"), query: q}, &v)
	return v, raw, err
}

// ContainerStart is POST /containers/{name}/start. Starting a running
// container is not an error (the daemon answers 304).
func (c *Client) ContainerStart(ctx context.Context, name string) error {
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/start")}, nil)
}

func timeoutQuery(timeout *int) url.Values {
	q := url.Values{}
	if timeout != nil {
		q.Set("t", strconv.Itoa(*timeout))
	}
	return q
}

// ContainerStop is POST /containers/{name}/stop; timeout nil leaves the
// grace period to the daemon.
func (c *Client) ContainerStop(ctx context.Context, name string, timeout *int) error {
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/stop"), query: timeoutQuery(timeout)}, nil)
}

// ContainerRestart is POST /containers/{name}/restart.
func (c *Client) ContainerRestart(ctx context.Context, name string, timeout *int) error {
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/restart"), query: timeoutQuery(timeout)}, nil)
}

// ContainerKill is POST /containers/{name}/kill; signal "" is SIGKILL.
func (c *Client) ContainerKill(ctx context.Context, name, signal string) error {
	q := url.Values{}
	if signal != "" {
		q.Set("signal", signal)
	}
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/kill"), query: q}, nil)
}

// ContainerRemove is DELETE /containers/{name}: force kills a running
// container first, volumes removes its anonymous volumes.
func (c *Client) ContainerRemove(ctx context.Context, name string, force, volumes bool) error {
	q := url.Values{}
	boolQuery(q, "force", force)
	boolQuery(q, "v", volumes)
	return c.getJSON(ctx, request{method: http.MethodDelete, path: containerPath(name, ""), query: q}, nil)
}

// ContainerWait is POST /containers/{name}/wait?condition=: it returns
// once the daemon has accepted the wait (the answer's header), so that a
// start made afterwards cannot be missed; the result then comes on the
// first channel, or an error on the second. condition is "",
// "not-running", "next-exit" or "removed".
func (c *Client) ContainerWait(ctx context.Context, name, condition string) (<-chan types.ContainerWaitResponse, <-chan error) {
	result := make(chan types.ContainerWaitResponse, 1)
	errc := make(chan error, 1)
	q := url.Values{}
	if condition != "" {
		q.Set("condition", condition)
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: containerPath(name, "/wait"), query: q})
	if err != nil {
		errc <- err
		return result, errc
	}
	go func() {
		defer resp.Body.Close()
		var v types.ContainerWaitResponse
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			errc <- fmt.Errorf("waiting for container %s: %w", name, err)
			return
		}
		if v.Error != nil && v.Error.Message != "" {
			errc <- &Error{Status: http.StatusInternalServerError, Message: v.Error.Message}
			return
		}
		result <- v
	}()
	return result, errc
}

// ContainerPause is POST /containers/{name}/pause.
func (c *Client) ContainerPause(ctx context.Context, name string) error {
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/pause")}, nil)
}

// ContainerUnpause is POST /containers/{name}/unpause.
func (c *Client) ContainerUnpause(ctx context.Context, name string) error {
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/unpause")}, nil)
}

// ContainerRename is POST /containers/{name}/rename?name=.
func (c *Client) ContainerRename(ctx context.Context, name, newName string) error {
	q := url.Values{"name": {newName}}
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/rename"), query: q}, nil)
}

// ContainerUpdate is POST /containers/{name}/update.
func (c *Client) ContainerUpdate(ctx context.Context, name string, req types.ContainerUpdateRequest) (types.ContainerUpdateResponse, error) {
	var v types.ContainerUpdateResponse
	body, err := jsonBody(req)
	if err != nil {
		return v, err
	}
	err = c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/update"), body: body, ctype: "application/json"}, &v)
	return v, err
}

// ContainerTop is GET /containers/{name}/top; psArgs "" is ps's default
// (-ef).
func (c *Client) ContainerTop(ctx context.Context, name, psArgs string) (types.ContainerTopResponse, error) {
	q := url.Values{}
	if psArgs != "" {
		q.Set("ps_args", psArgs)
	}
	var v types.ContainerTopResponse
	err := c.getJSON(ctx, request{method: http.MethodGet, path: containerPath(name, "/top"), query: q}, &v)
	return v, err
}

// ContainerStats is GET /containers/{name}/stats: a stream of
// types.StatsJSON objects (one a second), or a single one when !stream.
func (c *Client) ContainerStats(ctx context.Context, name string, stream bool) (io.ReadCloser, error) {
	q := url.Values{"stream": {"0"}}
	if stream {
		q.Set("stream", "1")
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: containerPath(name, "/stats"), query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// LogsOptions are GET /containers/{name}/logs's parameters. Since and
// Until are what the daemon reads: unix seconds ("1700000000.5") or
// RFC 3339; the CLI turns durations into those. Tail "" or "all" is the
// whole log.
type LogsOptions struct {
	ShowStdout, ShowStderr bool
	Since, Until           string
	Timestamps             bool
	Follow                 bool
	Tail                   string
	Details                bool
}

// ContainerLogs is GET /containers/{name}/logs: stdcopy frames when the
// container has no tty, the raw output when it has one (inspect tells).
func (c *Client) ContainerLogs(ctx context.Context, name string, opts LogsOptions) (io.ReadCloser, error) {
	q := url.Values{}
	boolQuery(q, "stdout", opts.ShowStdout)
	boolQuery(q, "stderr", opts.ShowStderr)
	boolQuery(q, "timestamps", opts.Timestamps)
	boolQuery(q, "follow", opts.Follow)
	boolQuery(q, "details", opts.Details)
	if opts.Since != "" {
		q.Set("since", opts.Since)
	}
	if opts.Until != "" {
		q.Set("until", opts.Until)
	}
	if opts.Tail != "" {
		q.Set("tail", opts.Tail)
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: containerPath(name, "/logs"), query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ContainerResize is POST /containers/{name}/resize: the tty's size.
func (c *Client) ContainerResize(ctx context.Context, name string, height, width uint) error {
	return c.getJSON(ctx, request{method: http.MethodPost, path: containerPath(name, "/resize"), query: sizeQuery(height, width)}, nil)
}

func sizeQuery(height, width uint) url.Values {
	return url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}}
}

// ContainerChanges is GET /containers/{name}/changes.
func (c *Client) ContainerChanges(ctx context.Context, name string) ([]types.ContainerChange, error) {
	var v []types.ContainerChange
	err := c.getJSON(ctx, request{method: http.MethodGet, path: containerPath(name, "/changes")}, &v)
	return v, err
}

// ContainerExport is GET /containers/{name}/export: a tar of its
// filesystem.
func (c *Client) ContainerExport(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: containerPath(name, "/export")})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// pathStat decodes the X-Docker-Container-Path-Stat header.
func pathStat(h http.Header) (types.ContainerPathStat, error) {
	var st types.ContainerPathStat
	enc := h.Get("X-Docker-Container-Path-Stat")
	if enc == "" {
		return st, nil
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return st, fmt.Errorf("decoding the container path stat header: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decoding the container path stat header: %w", err)
	}
	return st, nil
}

// ContainerStatPath is HEAD /containers/{name}/archive?path=.
func (c *Client) ContainerStatPath(ctx context.Context, name, path string) (types.ContainerPathStat, error) {
	q := url.Values{"path": {path}}
	resp, err := c.do(ctx, request{method: http.MethodHead, path: containerPath(name, "/archive"), query: q})
	if err != nil {
		return types.ContainerPathStat{}, err
	}
	resp.Body.Close()
	return pathStat(resp.Header)
}

// CopyFromContainer is GET /containers/{name}/archive?path=: a tar of
// path and its stat.
func (c *Client) CopyFromContainer(ctx context.Context, name, path string) (io.ReadCloser, types.ContainerPathStat, error) {
	q := url.Values{"path": {path}}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: containerPath(name, "/archive"), query: q})
	if err != nil {
		return nil, types.ContainerPathStat{}, err
	}
	st, err := pathStat(resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, st, err
	}
	return resp.Body, st, nil
}

// CopyToContainerOptions are PUT .../archive's switches.
type CopyToContainerOptions struct {
	AllowOverwriteDirWithFile bool
	CopyUIDGID                bool
}

// CopyToContainer is PUT /containers/{name}/archive?path=: unpacks the
// tar into the directory dir.
func (c *Client) CopyToContainer(ctx context.Context, name, dir string, tar io.Reader, opts CopyToContainerOptions) error {
	q := url.Values{"path": {dir}}
	if !opts.AllowOverwriteDirWithFile {
		q.Set("noOverwriteDirNonDir", "true")
	}
	if opts.CopyUIDGID {
		q.Set("copyUIDGID", "true")
	}
	return c.getJSON(ctx, request{method: http.MethodPut, path: containerPath(name, "/archive"), query: q, body: tar, ctype: "application/x-tar"}, nil)
}

// CommitOptions are POST /commit's parameters.
type CommitOptions struct {
	Reference string // "repo[:tag]", "" for an untagged image
	Comment   string
	Author    string
	Changes   []string // Dockerfile instructions
	Pause     bool
	Config    *types.ContainerConfig
}

// ContainerCommit is POST /commit?container=: it returns the new image's
// ID.
func (c *Client) ContainerCommit(ctx context.Context, name string, opts CommitOptions) (string, error) {
	q := url.Values{"container": {name}}
	if opts.Reference != "" {
		repo, tag := splitTag(opts.Reference)
		q.Set("repo", repo)
		if tag != "" {
			q.Set("tag", tag)
		}
	}
	if opts.Comment != "" {
		q.Set("comment", opts.Comment)
	}
	if opts.Author != "" {
		q.Set("author", opts.Author)
	}
	for _, ch := range opts.Changes {
		q.Add("changes", ch)
	}
	if !opts.Pause {
		q.Set("pause", "0")
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = &types.ContainerConfig{}
	}
	body, err := jsonBody(cfg)
	if err != nil {
		return "", err
	}
	var v types.IDResponse
	err = c.getJSON(ctx, request{method: http.MethodPost, path: "/commit", query: q, body: body, ctype: "application/json"}, &v)
	return v.ID, err
}

// ContainersPrune is POST /containers/prune.
func (c *Client) ContainersPrune(ctx context.Context, f types.Filters) (types.ContainersPruneReport, error) {
	q := url.Values{}
	if e := f.Encode(); e != "" {
		q.Set("filters", e)
	}
	var v types.ContainersPruneReport
	err := c.getJSON(ctx, request{method: http.MethodPost, path: "/containers/prune", query: q}, &v)
	return v, err
}
