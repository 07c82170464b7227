// Package server serves xmgr's REST API: the Docker Engine API, version
// 1.41, for the endpoints xmgr implements, on versioned (/v1.41/...) and
// unversioned paths. It parses requests, calls the small backend interfaces
// of backend.go and writes Docker's answers; it knows nothing of storage or
// registries, and nothing below it knows about HTTP.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Config holds the server's backends. Any may be nil: its endpoints then
// answer 501 (not implemented).
type Config struct {
	Images   ImageBackend
	Registry RegistryBackend
	System   SystemBackend
	// Containers serves the container and exec endpoints (and /commit).
	Containers ContainerBackend
	Networks   NetworkBackend
	Volumes    VolumeBackend
	// Builder serves POST /build and /build/prune.
	Builder BuildBackend
	// ServerHeader is the value of the Server header, "xmgr/<version>".
	ServerHeader string
	Logger       *slog.Logger
}

// Server is an http.Handler for the API.
type Server struct {
	cfg    Config
	events *Events
	log    *slog.Logger
}

// New makes a server over the backends.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.ServerHeader == "" {
		cfg.ServerHeader = "xmgr"
	}
	return &Server{cfg: cfg, events: NewEvents(), log: log}
}

// Events is the server's event log; the daemon closes it on shutdown.
func (s *Server) Events() *Events { return s.events }

type versionKey struct{}

// requestVersion is the API version of the request: the one in its path,
// or ours for unversioned paths.
func requestVersion(ctx context.Context) string {
	if v, ok := ctx.Value(versionKey{}).(string); ok {
		return v
	}
	return types.APIVersion
}

// splitVersion strips a /vX.Y prefix and checks X.Y is one we serve.
func splitVersion(path string) (rest, version string, err error) {
	if !strings.HasPrefix(path, "/v") {
		return path, types.APIVersion, nil
	}
	i := strings.IndexByte(path[1:], '/')
	if i < 0 {
		i = len(path) - 1
	}
	version, rest = path[2:i+1], path[i+1:]
	if _, err := parseVersion(version); err != nil {
		// Not a version after all ("/version" itself).
		return path, types.APIVersion, nil
	}
	if compareVersions(version, types.APIVersion) > 0 {
		return "", "", errdefs.Invalid("client version %s is too new. Maximum supported API version is %s", version, types.APIVersion)
	}
	if compareVersions(version, types.MinAPIVersion) < 0 {
		return "", "", errdefs.Invalid("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, types.MinAPIVersion)
	}
	if rest == "" {
		rest = "/"
	}
	return rest, version, nil
}

func parseVersion(v string) ([2]int, error) {
	var out [2]int
	maj, min, ok := strings.Cut(v, ".")
	if !ok {
		return out, fmt.Errorf("version %q: want MAJOR.MINOR", v)
	}
	var err error
	if out[0], err = strconv.Atoi(maj); err != nil {
		return out, fmt.Errorf("version %q: %w", v, err)
	}
	if out[1], err = strconv.Atoi(min); err != nil {
		return out, fmt.Errorf("version %q: %w", v, err)
	}
	return out, nil
}

// compareVersions compares two API versions as numbers (1.9 < 1.41).
func compareVersions(a, b string) int {
	va, _ := parseVersion(a)
	vb, _ := parseVersion(b)
	for i := range va {
		if va[i] != vb[i] {
			if va[i] < vb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ServeHTTP routes a request. Image names contain slashes and colons
// ("host:5000/a/b:tag"), so /images/{name}/... is matched by its suffix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", s.cfg.ServerHeader)
	w.Header().Set("Api-Version", types.APIVersion)
	w.Header().Set("Ostype", "linux")
	path, version, err := splitVersion(r.URL.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), versionKey{}, version))
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "api request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start))
	}()
	h := s.route(r.Method, path)
	if h == nil {
		writeJSON(sw, http.StatusNotFound, types.ErrorResponse{Message: "page not found"})
		return
	}
	h(sw, r)
}

// statusWriter records the status a handler sent, for the request log.
// Unwrap keeps http.ResponseController (flush, full duplex) working.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type handler func(w http.ResponseWriter, r *http.Request)

func (s *Server) route(method, path string) handler {
	get := method == http.MethodGet || method == http.MethodHead
	post := method == http.MethodPost
	switch path {
	case "/_ping":
		if get {
			return s.ping
		}
		return nil
	case "/version":
		return when(get, s.version)
	case "/info":
		return when(get, s.info)
	case "/events":
		return when(get, s.eventsStream)
	case "/system/df":
		return when(get, s.needImages(s.diskUsage))
	case "/auth":
		return when(post, s.needRegistry(s.auth))
	case "/images/json":
		return when(get, s.needImages(s.imageList))
	case "/images/create":
		return when(post, s.imageCreate)
	case "/images/load":
		return when(post, s.needImages(s.imageLoad))
	case "/images/prune":
		return when(post, s.needImages(s.imagePrune))
	case "/images/get":
		return when(get, s.needImages(s.imageSave))
	case "/build":
		return when(post, s.needBuilder(s.build))
	case "/build/prune":
		return when(post, s.needBuilder(s.buildPrune))
	}
	if h, ok := s.routeContainers(method, path); ok {
		return h
	}
	if h, ok := s.routeNetworks(method, path); ok {
		return h
	}
	if h, ok := s.routeVolumes(method, path); ok {
		return h
	}
	rest, ok := strings.CutPrefix(path, "/images/")
	if !ok || rest == "" {
		return nil
	}
	if method == http.MethodDelete {
		return s.withName(rest, s.needImages(s.imageDelete))
	}
	for _, rt := range []struct {
		suffix string
		ok     bool
		h      handler
	}{
		{"/json", get, s.needImages(s.imageInspect)},
		{"/history", get, s.needImages(s.imageHistory)},
		{"/get", get, s.needImages(s.imageSave)},
		{"/tag", post, s.needImages(s.imageTag)},
		{"/push", post, s.needRegistry(s.imagePush)},
	} {
		if name, found := strings.CutSuffix(rest, rt.suffix); found && name != "" && rt.ok {
			return s.withName(name, rt.h)
		}
	}
	return nil
}

func when(ok bool, h handler) handler {
	if !ok {
		return nil
	}
	return h
}

type nameKey struct{}

func (s *Server) withName(name string, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(context.WithValue(r.Context(), nameKey{}, name)))
	}
}

// nameOf is the {name} part of an /images/{name}/... path.
func nameOf(r *http.Request) string {
	n, _ := r.Context().Value(nameKey{}).(string)
	return n
}

var errNotImplemented = fmt.Errorf("not implemented by this daemon")

func (s *Server) needImages(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Images == nil {
			writeJSON(w, http.StatusNotImplemented, types.ErrorResponse{Message: errNotImplemented.Error()})
			return
		}
		h(w, r)
	}
}

func (s *Server) needRegistry(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Registry == nil {
			writeJSON(w, http.StatusNotImplemented, types.ErrorResponse{Message: errNotImplemented.Error()})
			return
		}
		h(w, r)
	}
}

// need answers 501 unless the backend a handler uses is configured
// (present).
func need(present bool, h handler) handler {
	if h == nil || present {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotImplemented, types.ErrorResponse{Message: errNotImplemented.Error()})
	}
}

// splitObject splits "/{id}/{action}" (after a prefix such as
// "/containers") into id and action; action is "" for "/{id}". IDs and
// names of containers, execs, networks and volumes have no slash.
func splitObject(rest string) (id, action string, ok bool) {
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok || rest == "" {
		return "", "", false
	}
	id, action, _ = strings.Cut(rest, "/")
	return id, action, id != ""
}

// boolValue reads a boolean query parameter as Docker does: absent, "",
// "0", "no", "false" and "none" are false.
func boolValue(r *http.Request, k string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(k))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}
