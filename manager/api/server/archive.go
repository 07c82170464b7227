package server

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// pathStatHeader carries a ContainerPathStat: base64 (standard alphabet)
// of its JSON.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(w http.ResponseWriter, st *types.ContainerPathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
	return nil
}

// archivePath is the path parameter of the archive endpoints.
func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.Invalid("bad parameter: 'path' cannot be empty")
	}
	return p, nil
}

// archiveStat answers HEAD /containers/{id}/archive?path= with the
// path's stat in a header and no body.
func (s *Server) archiveStat(w http.ResponseWriter, r *http.Request) {
	p, err := archivePath(r)
	var st *types.ContainerPathStat
	if err == nil {
		st, err = s.cfg.Containers.ContainerStatPath(r.Context(), nameOf(r), p)
	}
	if err == nil {
		err = setPathStat(w, st)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// archiveGet answers GET /containers/{id}/archive?path= with a tar of
// the path and its stat in a header.
func (s *Server) archiveGet(w http.ResponseWriter, r *http.Request) {
	p, err := archivePath(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rc, st, err := s.cfg.Containers.ContainerArchivePath(r.Context(), nameOf(r), p)
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	if err := setPathStat(w, st); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		// A tar that ends early must not look complete.
		s.log.Error("archive failed mid-stream", "container", nameOf(r), "path", p, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// archivePut answers PUT /containers/{id}/archive?path= by unpacking
// the body, a tar, into the directory path.
func (s *Server) archivePut(w http.ResponseWriter, r *http.Request) {
	p, err := archivePath(r)
	if err == nil {
		err = s.cfg.Containers.ContainerExtractToDir(r.Context(), nameOf(r), p,
			boolValue(r, "noOverwriteDirNonDir"), boolValue(r, "copyUIDGID"), r.Body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// containerExport answers GET /containers/{id}/export with a tar of the
// container's filesystem. A failure mid-way aborts the connection.
func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) {
	out := newStream(w, "application/x-tar")
	err := s.cfg.Containers.ContainerExport(r.Context(), nameOf(r), out)
	if err != nil && out.started {
		s.log.Error("export failed mid-stream", "container", nameOf(r), "err", err)
		panic(http.ErrAbortHandler)
	}
	out.finish(err)
}
