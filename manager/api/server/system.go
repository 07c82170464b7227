package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ping answers GET and HEAD /_ping: the headers carry the version a client
// negotiates down to.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Docker-Experimental", "false")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	if s.cfg.System == nil {
		writeJSON(w, http.StatusOK, types.Version{APIVersion: types.APIVersion, MinAPIVersion: types.MinAPIVersion, Os: "linux"})
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.System.SystemVersion(r.Context()))
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	if s.cfg.System == nil {
		writeJSON(w, http.StatusNotImplemented, types.ErrorResponse{Message: errNotImplemented.Error()})
		return
	}
	info, err := s.cfg.System.SystemInfo(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	info.NEventsListener = s.events.Listeners()
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request) {
	du, err := s.cfg.Images.SystemDiskUsage(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, du)
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	var ac types.AuthConfig
	if err := json.NewDecoder(r.Body).Decode(&ac); err != nil {
		writeError(w, errdefs.Invalid("auth: bad JSON body: %v", err))
		return
	}
	status, token, err := s.cfg.Registry.Login(r.Context(), &ac)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, types.AuthenticateOKBody{Status: status, IdentityToken: token})
}

// parseTime reads the since/until parameters of /events: unix seconds,
// with an optional fraction, or an RFC 3339 time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, errdefs.Invalid("invalid time %q: want unix seconds or RFC 3339", s)
}

// eventsStream follows the event log: past events since `since`, then live
// ones until `until` or the client leaves.
func (s *Server) eventsStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := parseTime(q.Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	until, err := parseTime(q.Get("until"))
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := types.ParseFilters(q.Get("filters"))
	if err == nil {
		err = f.Validate("type", "event", "image", "label")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	past, ch, cancel := s.events.Subscribe(since)
	defer cancel()
	out := newStream(w, "application/json")
	out.start()
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	send := func(m types.EventMessage) bool {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return false
		}
		if matchEvent(m, f) {
			_ = enc.Encode(m)
		}
		return true
	}
	for _, m := range past {
		if !send(m) {
			return
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case m, ok := <-ch:
			if !ok || !send(m) {
				return
			}
		case <-deadline:
			return
		case <-r.Context().Done():
			return
		}
	}
}
