package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// routeContainers routes /containers/..., /exec/... and /commit. ok
// says the path is theirs; the handler is nil when the method is wrong.
func (s *Server) routeContainers(method, path string) (h handler, ok bool) {
	get := method == http.MethodGet || method == http.MethodHead
	post := method == http.MethodPost
	have := s.cfg.Containers != nil
	switch path {
	case "/containers/json":
		return need(have, when(get, s.containerList)), true
	case "/containers/create":
		return need(have, when(post, s.containerCreate)), true
	case "/containers/prune":
		return need(have, when(post, s.containersPrune)), true
	case "/commit":
		return need(have, when(post, s.containerCommit)), true
	}
	if rest, found := cutPrefixDir(path, "/exec"); found {
		id, action, valid := splitObject(rest)
		if !valid {
			return nil, true
		}
		var h handler
		switch action {
		case "start":
			h = when(post, s.execStart)
		case "resize":
			h = when(post, s.execResize)
		case "json":
			h = when(get, s.execInspect)
		}
		return need(have, s.withNameOrNil(id, h)), true
	}
	rest, found := cutPrefixDir(path, "/containers")
	if !found {
		return nil, false
	}
	id, action, valid := splitObject(rest)
	if !valid {
		return nil, true
	}
	var hh handler
	switch action {
	case "":
		hh = when(method == http.MethodDelete, s.containerRemove)
	case "json":
		hh = when(get, s.containerInspect)
	case "top":
		hh = when(get, s.containerTop)
	case "logs":
		hh = when(get, s.containerLogs)
	case "stats":
		hh = when(get, s.containerStats)
	case "changes":
		hh = when(get, s.containerChanges)
	case "export":
		hh = when(get, s.containerExport)
	case "archive":
		switch method {
		case http.MethodHead:
			hh = s.archiveStat
		case http.MethodGet:
			hh = s.archiveGet
		case http.MethodPut:
			hh = s.archivePut
		}
	case "start":
		hh = when(post, s.containerStart)
	case "stop":
		hh = when(post, s.containerStop)
	case "restart":
		hh = when(post, s.containerRestart)
	case "kill":
		hh = when(post, s.containerKill)
	case "pause":
		hh = when(post, s.containerPause)
	case "unpause":
		hh = when(post, s.containerUnpause)
	case "rename":
		hh = when(post, s.containerRename)
	case "update":
		hh = when(post, s.containerUpdate)
	case "wait":
		hh = when(post, s.containerWait)
	case "resize":
		hh = when(post, s.containerResize)
	case "attach":
		hh = when(post, s.containerAttach)
	case "exec":
		hh = when(post, s.execCreate)
	}
	return need(have, s.withNameOrNil(id, hh)), true
}

// cutPrefixDir cuts "/containers" off "/containers/..." (but not off
// "/containersX").
func cutPrefixDir(path, prefix string) (rest string, ok bool) {
	rest, ok = strings.CutPrefix(path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return rest, true
}

// withNameOrNil is withName for a handler that may be nil (no route).
func (s *Server) withNameOrNil(name string, h handler) handler {
	if h == nil {
		return nil
	}
	return s.withName(name, h)
}

// readJSON decodes the request's JSON body into v. An empty body leaves
// v as it is and reports empty.
func readJSON(r *http.Request, v any) (empty bool, err error) {
	if r.Body == nil {
		return true, nil
	}
	err = json.NewDecoder(r.Body).Decode(v)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	if err != nil {
		return false, errdefs.Invalid("bad JSON body: %v", err)
	}
	return false, nil
}

// intParam reads an integer query parameter; ok is false when it is
// absent.
func intParam(r *http.Request, k string) (n int, ok bool, err error) {
	v := r.URL.Query().Get(k)
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil {
		return 0, false, errdefs.Invalid("invalid value for %s: %q is not an integer", k, v)
	}
	return n, true, nil
}

// writeDone answers a state change: 204, or 304 with no body when the
// container already was in that state.
func writeDone(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errdefs.IsNotModified(err):
		w.WriteHeader(http.StatusNotModified)
	default:
		writeError(w, err)
	}
}

// containerListFilters are the filters of GET /containers/json.
var containerListFilters = []string{"ancestor", "before", "exited", "health", "id", "isolation",
	"is-task", "label", "label!", "name", "network", "publish", "since", "status", "volume", "expose"}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate(containerListFilters...)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	limit, _, err := intParam(r, "limit")
	if err != nil {
		writeError(w, err)
		return
	}
	if limit < 0 {
		limit = 0 // Docker's -1: no limit
	}
	list, err := s.cfg.Containers.ContainerList(r.Context(), ContainerListOptions{
		All: boolValue(r, "all"), Limit: limit, Size: boolValue(r, "size"), Filters: f,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []*types.ContainerSummary{}
	}
	writeJSON(w, http.StatusOK, list)
}

// containerCreate answers POST /containers/create?name= with 201. A
// missing image is the backend's 404 "No such image: ...", on which
// Docker's CLI pulls and tries again.
func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) {
	var req types.ContainerCreateRequest
	empty, err := readJSON(r, &req)
	if err == nil && empty {
		err = errdefs.Invalid("config cannot be empty in order to create a container")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.cfg.Containers.ContainerCreate(r.Context(), r.URL.Query().Get("name"), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.Containers.ContainerInspect(r.Context(), nameOf(r), boolValue(r, "size"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) {
	writeDone(w, s.cfg.Containers.ContainerStart(r.Context(), nameOf(r)))
}

// stopTimeout reads the t parameter of stop and restart (nil: the
// container's own timeout).
func stopTimeout(r *http.Request) (*int, error) {
	t, ok, err := intParam(r, "t")
	if err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) {
	t, err := stopTimeout(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeDone(w, s.cfg.Containers.ContainerStop(r.Context(), nameOf(r), t))
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) {
	t, err := stopTimeout(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeDone(w, s.cfg.Containers.ContainerRestart(r.Context(), nameOf(r), t))
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) {
	writeDone(w, s.cfg.Containers.ContainerKill(r.Context(), nameOf(r), r.URL.Query().Get("signal")))
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) {
	writeDone(w, s.cfg.Containers.ContainerPause(r.Context(), nameOf(r)))
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request) {
	writeDone(w, s.cfg.Containers.ContainerUnpause(r.Context(), nameOf(r)))
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) {
	newName := r.URL.Query().Get("name")
	if newName == "" {
		writeError(w, errdefs.Invalid("a new name must be given (name parameter)"))
		return
	}
	writeDone(w, s.cfg.Containers.ContainerRename(r.Context(), nameOf(r), newName))
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) {
	if boolValue(r, "link") {
		writeError(w, errdefs.Invalid("removing a link is not supported: xmgr has no legacy links"))
		return
	}
	writeDone(w, s.cfg.Containers.ContainerRemove(r.Context(), nameOf(r), boolValue(r, "force"), boolValue(r, "v")))
}

func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) {
	var req types.ContainerUpdateRequest
	if _, err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.cfg.Containers.ContainerUpdate(r.Context(), nameOf(r), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	if resp == nil {
		resp = &types.ContainerUpdateResponse{}
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// containerWait answers POST /containers/{id}/wait?condition=. The 200
// header goes out at once: docker run sends the wait before it starts
// the container and does not start it until the header arrived. The body
// follows when the condition is met.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) {
	cond := r.URL.Query().Get("condition")
	switch cond {
	case "", "not-running", "next-exit", "removed":
	default:
		writeError(w, errdefs.Invalid("invalid condition %q: want not-running, next-exit or removed", cond))
		return
	}
	ctx := r.Context()
	ch, err := s.cfg.Containers.ContainerWait(ctx, nameOf(r), cond)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	select {
	case resp, ok := <-ch:
		if !ok {
			return
		}
		_ = json.NewEncoder(w).Encode(resp)
	case <-ctx.Done():
	}
}

// sizeParams reads the h and w parameters of the resize endpoints.
func sizeParams(r *http.Request) (height, width int, err error) {
	height, _, err = intParam(r, "h")
	if err == nil {
		width, _, err = intParam(r, "w")
	}
	return height, width, err
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) {
	h, wd, err := sizeParams(r)
	if err == nil {
		err = s.cfg.Containers.ContainerResize(r.Context(), nameOf(r), h, wd)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) {
	top, err := s.cfg.Containers.ContainerTop(r.Context(), nameOf(r), r.URL.Query().Get("ps_args"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, top)
}

func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) {
	changes, err := s.cfg.Containers.ContainerChanges(r.Context(), nameOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	if changes == nil {
		changes = []types.ContainerChange{}
	}
	writeJSON(w, http.StatusOK, changes)
}

func (s *Server) containersPrune(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate("until", "label", "label!")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := s.cfg.Containers.ContainersPrune(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	if rep.ContainersDeleted == nil {
		rep.ContainersDeleted = []string{}
	}
	writeJSON(w, http.StatusOK, rep)
}

// containerCommit answers POST /commit?container=&repo=&tag=... with
// 201 {"Id"}. The body, a container config to merge, may be empty;
// pause defaults to true, as in Docker since API 1.13.
func (s *Server) containerCommit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("container")
	if name == "" {
		writeError(w, errdefs.Invalid("a container must be given (container parameter)"))
		return
	}
	var cfg types.ContainerConfig
	empty, err := readJSON(r, &cfg)
	if err != nil {
		writeError(w, err)
		return
	}
	opts := CommitOptions{
		Repo: q.Get("repo"), Tag: q.Get("tag"),
		Author: q.Get("author"), Comment: q.Get("comment"),
		Pause:   q.Get("pause") == "" || boolValue(r, "pause"),
		Changes: q["changes"],
	}
	if !empty {
		opts.Config = &cfg
	}
	if opts.Repo == "" && opts.Tag != "" {
		writeError(w, errdefs.Invalid("a tag needs a repository (repo parameter)"))
		return
	}
	id, err := s.cfg.Containers.ContainerCommit(r.Context(), name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, types.IDResponse{ID: id})
}
