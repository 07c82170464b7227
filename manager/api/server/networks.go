package server

import (
	"net/http"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// routeNetworks routes /networks and /networks/...; ok says the path is
// theirs, the handler is nil when the method is wrong.
func (s *Server) routeNetworks(method, path string) (h handler, ok bool) {
	get := method == http.MethodGet || method == http.MethodHead
	post := method == http.MethodPost
	have := s.cfg.Networks != nil
	switch path {
	case "/networks":
		return need(have, when(get, s.networkList)), true
	case "/networks/create":
		return need(have, when(post, s.networkCreate)), true
	case "/networks/prune":
		return need(have, when(post, s.networksPrune)), true
	}
	rest, found := cutPrefixDir(path, "/networks")
	if !found {
		return nil, false
	}
	id, action, valid := splitObject(rest)
	if !valid {
		return nil, true
	}
	switch {
	case action == "" && get:
		h = s.networkInspect
	case action == "" && method == http.MethodDelete:
		h = s.networkRemove
	case action == "connect" && post:
		h = s.networkConnect
	case action == "disconnect" && post:
		h = s.networkDisconnect
	}
	return need(have, s.withNameOrNil(id, h)), true
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate("dangling", "driver", "id", "label", "name", "scope", "type")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.cfg.Networks.NetworkList(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []*types.NetworkResource{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) {
	n, err := s.cfg.Networks.NetworkInspect(r.Context(), nameOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	var req types.NetworkCreateRequest
	if _, err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		writeError(w, errdefs.Invalid("a network needs a name (Name)"))
		return
	}
	resp, err := s.cfg.Networks.NetworkCreate(r.Context(), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Networks.NetworkRemove(r.Context(), nameOf(r)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) {
	var req types.NetworkConnectRequest
	if _, err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Container == "" {
		writeError(w, errdefs.Invalid("a container must be given (Container)"))
		return
	}
	if err := s.cfg.Networks.NetworkConnect(r.Context(), nameOf(r), req.Container, req.EndpointConfig); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	var req types.NetworkDisconnectRequest
	if _, err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Container == "" {
		writeError(w, errdefs.Invalid("a container must be given (Container)"))
		return
	}
	if err := s.cfg.Networks.NetworkDisconnect(r.Context(), nameOf(r), req.Container, req.Force); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networksPrune(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate("until", "label", "label!")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := s.cfg.Networks.NetworksPrune(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	if rep.NetworksDeleted == nil {
		rep.NetworksDeleted = []string{}
	}
	writeJSON(w, http.StatusOK, rep)
}
