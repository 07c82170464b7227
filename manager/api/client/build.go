package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// buildQuery puts build options into POST /build's parameters, as
// Docker's client does (rm always sent, maps and lists as JSON).
func buildQuery(opts types.BuildOptions) (url.Values, error) {
	q := url.Values{}
	for _, t := range opts.Tags {
		q.Add("t", t)
	}
	set := func(k string, on bool) {
		if on {
			q.Set(k, "1")
		}
	}
	set("q", opts.Quiet)
	set("nocache", opts.NoCache)
	set("pull", opts.Pull)
	set("forcerm", opts.ForceRemove)
	if opts.Remove {
		q.Set("rm", "1")
	} else {
		q.Set("rm", "0")
	}
	for k, v := range map[string]string{"dockerfile": opts.Dockerfile, "target": opts.Target,
		"networkmode": opts.NetworkMode, "platform": opts.Platform} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range map[string]string{"cpusetcpus": opts.CpusetCpus, "cpusetmems": opts.CpusetMems, "cgroupparent": opts.CgroupParent} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range map[string]int64{"memory": opts.Memory, "memswap": opts.MemorySwap, "cpushares": opts.CPUShares,
		"cpuperiod": opts.CPUPeriod, "cpuquota": opts.CPUQuota, "shmsize": opts.ShmSize} {
		if v != 0 {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
	for _, h := range opts.ExtraHosts {
		q.Add("extrahosts", h)
	}
	var ulimits any
	if len(opts.Ulimits) > 0 {
		ulimits = opts.Ulimits
	}
	for k, v := range map[string]any{"buildargs": opts.BuildArgs, "labels": opts.Labels, "cachefrom": opts.CacheFrom, "ulimits": ulimits} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if s := string(b); s != "null" {
			q.Set(k, s)
		}
	}
	return q, nil
}

// ImageBuild is POST /build: buildContext is a tar (maybe compressed) or
// a bare Dockerfile; the answer is a JSON message stream.
func (c *Client) ImageBuild(ctx context.Context, opts types.BuildOptions, buildContext io.Reader) (io.ReadCloser, error) {
	q, err := buildQuery(opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/build", query: q, body: buildContext, ctype: "application/x-tar"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Build runs a build and returns the ID of the image it made. onMessage
// (may be nil) sees every message of the stream as it comes; a message
// with an error ends the build with that error.
func (c *Client) Build(ctx context.Context, opts types.BuildOptions, buildContext io.Reader, onMessage func(types.JSONMessage)) (string, error) {
	rc, err := c.ImageBuild(ctx, opts, buildContext)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	id := ""
	err = ReadMessages(rc, func(m types.JSONMessage) {
		if m.Aux != nil {
			var res types.BuildResult
			if json.Unmarshal(*m.Aux, &res) == nil && res.ID != "" {
				id = res.ID
			}
		} else if s := strings.TrimSpace(m.Stream); opts.Quiet && id == "" && strings.HasPrefix(s, "sha256:") {
			// A quiet build's only output line is the ID.
			id = s
		}
		if onMessage != nil {
			onMessage(m)
		}
	})
	return id, err
}

// BuildCachePrune is POST /build/prune: all drops every cache entry, not
// only the ones no image uses.
func (c *Client) BuildCachePrune(ctx context.Context, all bool) (types.BuildCachePruneReport, error) {
	q := url.Values{}
	if all {
		q.Set("all", "1")
	}
	var rep types.BuildCachePruneReport
	err := c.getJSON(ctx, request{method: http.MethodPost, path: "/build/prune", query: q}, &rep)
	return rep, err
}
