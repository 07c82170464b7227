package server

import (
	"context"
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
	// Builder-Version 1 makes Docker's CLI (23+) use the legacy builder,
	// the one POST /build implements, instead of BuildKit.
	h.Set("Builder-Version", "1")
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
	if err == nil {
		err = s.containersAndVolumesUsage(r.Context(), du)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, du)
}

// containersAndVolumesUsage fills the containers (with their sizes) and
// volumes of system df from their backends, when there are some. Every
// volume gets UsageData (Docker's CLI reads it without a nil check): its
// users among the containers and, if the backend did not measure it, the
// size -1, "unknown".
func (s *Server) containersAndVolumesUsage(ctx context.Context, du *types.DiskUsage) error {
	users := map[string]int64{}
	if s.cfg.Containers != nil {
		list, err := s.cfg.Containers.ContainerList(ctx, ContainerListOptions{All: true, Size: true})
		if err != nil {
			return err
		}
		du.Containers = make([]any, 0, len(list))
		for _, c := range list {
			du.Containers = append(du.Containers, c)
			for _, m := range c.Mounts {
				if m.Type == "volume" {
					users[m.Name]++
				}
			}
		}
	}
	if s.cfg.Volumes != nil {
		vl, err := s.cfg.Volumes.VolumeList(ctx, types.NewFilters())
		if err != nil {
			return err
		}
		du.Volumes = []any{}
		if vl != nil {
			for _, v := range vl.Volumes {
				vv := *v
				if vv.UsageData == nil {
					vv.UsageData = &types.VolumeUsageData{RefCount: users[v.Name], Size: -1}
				}
				du.Volumes = append(du.Volumes, &vv)
			}
		}
	}
	return nil
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
		err = f.Validate("type", "event", "image", "label", "container", "network", "volume")
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
