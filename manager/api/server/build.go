package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/reference"
)

// BuildOptions are POST /build's parameters (Docker's names in the
// comments of types.BuildOptions): the client sends the same struct.
type BuildOptions = types.BuildOptions

// BuildBackend builds images from Dockerfiles.
type BuildBackend interface {
	// Build reads the build context (a tar, maybe compressed, or a bare
	// Dockerfile) from r, writes Docker's JSON messages to out
	// ({"stream":...} lines, {"aux":{"ID":...}}), and returns the image
	// ID. A failure is returned, not written: the server reports it; an
	// error with an `ExitCode() int` method (a failed RUN) gives Docker's
	// CLI the code to exit with.
	//
	// The backend may write its full output even when opts.Quiet is set:
	// the server then keeps the "stream" and progress messages back (and
	// shows them only if the build fails) and ends with the image ID, as
	// dockerd does.
	Build(ctx context.Context, opts BuildOptions, r io.Reader, out io.Writer) (string, error)
	// BuildCachePrune drops the build cache (POST /build/prune); returns
	// the bytes freed.
	BuildCachePrune(ctx context.Context, all bool) (int64, error)
}

func (s *Server) needBuilder(h handler) handler { return need(s.cfg.Builder != nil, h) }

// build answers POST /build with a JSON message stream. Parameters that
// would change what gets built and that xmgr cannot honour are refused
// with 400 before the context is read. The resource limits and extra
// hosts (memory, cpu*, shmsize, ulimits, cgroupparent, extrahosts) apply
// to every RUN container.
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	opts, err := parseBuildOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// X-Registry-Config (credentials for FROM pulls) is accepted and
	// ignored: the backend pulls with the daemon's own access.
	defer fullDuplex(w, r)()
	out := newStream(w, "application/json")
	var bout io.Writer = out
	var quiet *quietFilter
	if opts.Quiet {
		quiet = &quietFilter{out: out}
		bout = quiet
	}
	id, err := s.cfg.Builder.Build(r.Context(), opts, r.Body, bout)
	if quiet != nil {
		quiet.end()
		if err != nil {
			// As dockerd: a quiet build that fails shows what it hid.
			_, _ = out.Write(quiet.held.Bytes())
		} else {
			out.message(types.JSONMessage{Stream: id + "\n"})
		}
	}
	finishBuild(out, err)
}

// finishBuild is stream.finish that also passes on the exit code of a
// failed RUN (an error with an ExitCode method) in errorDetail.code, the
// code Docker's CLI exits with.
func finishBuild(out *stream, err error) {
	var ec interface{ ExitCode() int }
	if err == nil || !out.started || !errors.As(err, &ec) {
		out.finish(err)
		return
	}
	msg := err.Error()
	out.message(types.JSONMessage{Error: &types.JSONError{Code: ec.ExitCode(), Message: msg}, ErrorMessage: msg})
}

// parseBuildOptions reads every parameter Docker's API 1.41 documents for
// POST /build.
func parseBuildOptions(r *http.Request) (BuildOptions, error) {
	q := r.URL.Query()
	opts := BuildOptions{
		Dockerfile: q.Get("dockerfile"),
		Target:     q.Get("target"),
		NoCache:    boolValue(r, "nocache"),
		Pull:       boolValue(r, "pull"),
		Quiet:      boolValue(r, "q"),
		// rm defaults to true; forcerm implies it.
		Remove:      q.Get("rm") == "" || boolValue(r, "rm"),
		ForceRemove: boolValue(r, "forcerm"),
		NetworkMode: q.Get("networkmode"),
		Platform:    strings.ToLower(q.Get("platform")),
	}
	if opts.ForceRemove {
		opts.Remove = true
	}
	if opts.NetworkMode == "default" {
		opts.NetworkMode = ""
	}
	for _, t := range q["t"] {
		if t == "" {
			continue
		}
		n, err := reference.ParseNamed(t)
		if err != nil {
			return opts, err
		}
		if n.Digest != "" {
			return opts, errdefs.Invalid("build tag cannot contain a digest: %q", t)
		}
		opts.Tags = append(opts.Tags, t)
	}
	if err := jsonParam(q, "buildargs", &opts.BuildArgs); err != nil {
		return opts, err
	}
	if err := jsonParam(q, "labels", &opts.Labels); err != nil {
		return opts, err
	}
	if err := jsonParam(q, "cachefrom", &opts.CacheFrom); err != nil {
		return opts, err
	}
	if err := jsonParam(q, "ulimits", &opts.Ulimits); err != nil {
		return opts, err
	}
	opts.Ulimits = slices.DeleteFunc(opts.Ulimits, func(u *types.Ulimit) bool { return u == nil })
	if len(opts.Ulimits) == 0 {
		opts.Ulimits = nil
	}
	for _, n := range []struct {
		k   string
		dst *int64
	}{{"memory", &opts.Memory}, {"memswap", &opts.MemorySwap}, {"cpushares", &opts.CPUShares},
		{"cpuquota", &opts.CPUQuota}, {"cpuperiod", &opts.CPUPeriod}, {"shmsize", &opts.ShmSize}} {
		if v := q.Get(n.k); v != "" {
			i, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return opts, errdefs.Invalid("invalid value for %s: %q: want a number", n.k, v)
			}
			*n.dst = i
		}
	}
	opts.CpusetCpus = q.Get("cpusetcpus")
	opts.CpusetMems = q.Get("cpusetmems")
	opts.CgroupParent = q.Get("cgroupparent")
	for _, h := range q["extrahosts"] {
		if h == "" {
			continue
		}
		if err := types.ValidateExtraHost(h); err != nil {
			return opts, err
		}
		opts.ExtraHosts = append(opts.ExtraHosts, h)
	}
	return opts, refuseUnsupported(q)
}

// refuseUnsupported rejects the parameters that would change the result
// and that xmgr's builder does not implement.
func refuseUnsupported(q map[string][]string) error {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if get("remote") != "" {
		return errdefs.Invalid("remote build contexts (remote=%q) are not supported by xmgr: send the context in the request body", get("remote"))
	}
	switch v := strings.ToLower(get("squash")); v {
	case "", "0", "no", "false", "none":
	default:
		return errdefs.Invalid("squash is not supported by xmgr's builder")
	}
	if v := get("outputs"); v != "" && v != "null" && v != "[]" {
		return errdefs.Invalid("build outputs are not supported by xmgr's builder (BuildKit only)")
	}
	switch v := get("version"); v {
	case "", "1":
	case "2":
		return errdefs.Invalid("BuildKit (builder version 2) is not supported by xmgr: use the legacy builder (DOCKER_BUILDKIT=0)")
	default:
		return errdefs.Invalid("unsupported builder version %q", v)
	}
	switch v := get("isolation"); v {
	case "", "default":
	default:
		return errdefs.Invalid("isolation %q is not supported: xmgr has only the default", v)
	}
	return nil
}

// jsonParam decodes a JSON-valued query parameter; absent, "" and "null"
// leave v as it is (Docker's CLI sends "null" for an empty map).
func jsonParam(q map[string][]string, k string, v any) error {
	s := ""
	if vs := q[k]; len(vs) > 0 {
		s = vs[0]
	}
	if s == "" || s == "null" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return errdefs.Invalid("invalid value for %s: %v", k, err)
	}
	return nil
}

// quietFilter stands between a backend and a quiet build's answer: aux
// and error messages go through, the rest is held back.
type quietFilter struct {
	out     io.Writer
	pending []byte
	held    bytes.Buffer
}

func (f *quietFilter) Write(p []byte) (int, error) {
	f.pending = append(f.pending, p...)
	for {
		i := bytes.IndexByte(f.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		f.line(f.pending[:i+1])
		f.pending = f.pending[i+1:]
	}
}

func (f *quietFilter) line(l []byte) {
	var m struct {
		Aux   json.RawMessage `json:"aux"`
		Error string          `json:"error"`
	}
	if json.Unmarshal(l, &m) == nil && (m.Aux != nil || m.Error != "") {
		_, _ = f.out.Write(l)
		return
	}
	f.held.Write(l)
}

// end takes a last line the backend did not end with a newline.
func (f *quietFilter) end() {
	if len(f.pending) > 0 {
		f.line(append(f.pending, '\n'))
		f.pending = nil
	}
}

// buildPrune answers POST /build/prune. Its filters and keep-storage are
// accepted; xmgr's cache has no finer grain than all or dangling.
func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request) {
	if _, err := types.ParseFilters(r.URL.Query().Get("filters")); err != nil {
		writeError(w, err)
		return
	}
	n, err := s.cfg.Builder.BuildCachePrune(r.Context(), boolValue(r, "all"))
	if err != nil {
		writeError(w, err)
		return
	}
	if n < 0 {
		n = 0
	}
	writeJSON(w, http.StatusOK, types.BuildCachePruneReport{CachesDeleted: []string{}, SpaceReclaimed: uint64(n)})
}
