package server

import (
	"encoding/json"
	"net/http"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// statusOf maps an error's kind to the HTTP status Docker uses for it.
func statusOf(err error) int {
	switch {
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsAlreadyExists(err), errdefs.IsConflict(err):
		return http.StatusConflict
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	}
	return http.StatusInternalServerError
}

// writeError answers with Docker's error body.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), types.ErrorResponse{Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<none>:<none>" as is, as dockerd writes it
	_ = enc.Encode(v)
}
