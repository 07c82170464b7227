package server

import (
	"net/http"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// routeVolumes routes /volumes and /volumes/...; ok says the path is
// theirs, the handler is nil when the method is wrong.
func (s *Server) routeVolumes(method, path string) (h handler, ok bool) {
	get := method == http.MethodGet || method == http.MethodHead
	post := method == http.MethodPost
	have := s.cfg.Volumes != nil
	switch path {
	case "/volumes":
		return need(have, when(get, s.volumeList)), true
	case "/volumes/create":
		return need(have, when(post, s.volumeCreate)), true
	case "/volumes/prune":
		return need(have, when(post, s.volumesPrune)), true
	}
	rest, found := cutPrefixDir(path, "/volumes")
	if !found {
		return nil, false
	}
	name, action, valid := splitObject(rest)
	if !valid || action != "" {
		return nil, true
	}
	switch {
	case get:
		h = s.volumeInspect
	case method == http.MethodDelete:
		h = s.volumeRemove
	}
	return need(have, s.withNameOrNil(name, h)), true
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate("dangling", "driver", "label", "name")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.cfg.Volumes.VolumeList(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	if resp == nil {
		resp = &types.VolumeListResponse{}
	}
	if resp.Volumes == nil {
		resp.Volumes = []*types.Volume{}
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) {
	v, err := s.cfg.Volumes.VolumeInspect(r.Context(), nameOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// volumeCreate answers POST /volumes/create with 201 and the volume. An
// empty name asks for a generated one.
func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) {
	var req types.VolumeCreateRequest
	if _, err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	v, err := s.cfg.Volumes.VolumeCreate(r.Context(), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Volumes.VolumeRemove(r.Context(), nameOf(r), boolValue(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) volumesPrune(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate("label", "label!", "all")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := s.cfg.Volumes.VolumesPrune(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	if rep.VolumesDeleted == nil {
		rep.VolumesDeleted = []string{}
	}
	writeJSON(w, http.StatusOK, rep)
}
