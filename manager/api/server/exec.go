package server

import (
	"net/http"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// execCreate answers POST /containers/{id}/exec with 201 {"Id"}.
func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) {
	var cfg types.ExecConfig
	if _, err := readJSON(r, &cfg); err != nil {
		writeError(w, err)
		return
	}
	if len(cfg.Cmd) == 0 {
		writeError(w, errdefs.Invalid("No exec command specified"))
		return
	}
	id, err := s.cfg.Containers.ExecCreate(r.Context(), nameOf(r), &cfg)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, types.IDResponse{ID: id})
}

// execStart answers POST /exec/{id}/start. Detached, it is 200 once the
// process started. Otherwise the connection is taken over as for attach:
// the streams the exec was created with travel on it, multiplexed unless
// a tty was asked for (in this request, as Docker decides, or at create).
// An unknown exec is a 404 before the takeover; later errors (such as a
// container that stopped) are written into the stream, as Docker does.
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) {
	var req types.ExecStartRequest
	if _, err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	id := nameOf(r)
	ex, err := s.cfg.Containers.ExecInspect(ctx, id)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Detach {
		if err := s.cfg.Containers.ExecStart(ctx, id, true, AttachStreams{}); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	tty := req.Tty || (ex.ProcessConfig != nil && ex.ProcessConfig.Tty)
	h, err := hijack(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	defer h.close()
	streams := AttachStreams{DetachKeys: ex.DetachKeys}
	streams.Stdout, streams.Stderr = outputStreams(h.conn, tty, ex.OpenStdout, ex.OpenStderr)
	if ex.OpenStdin {
		streams.Stdin = h.in
	}
	if err := s.cfg.Containers.ExecStart(ctx, id, false, streams); err != nil {
		s.log.Debug("exec ended with an error", "exec", id, "err", err)
		streamError(h, tty, err.Error())
	}
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) {
	ex, err := s.cfg.Containers.ExecInspect(r.Context(), nameOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) {
	h, wd, err := sizeParams(r)
	if err == nil {
		err = s.cfg.Containers.ExecResize(r.Context(), nameOf(r), h, wd)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
