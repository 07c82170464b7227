package server

import (
	"encoding/json"

	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// rfc3339NanoFixed is the timestamp of `logs --timestamps`: Docker pads
// the fraction to nine digits so that the lines align.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// parseLogTime reads since and until: unix seconds with an optional
// fraction of up to nine digits ("1700000000.123456789", read exactly,
// not through a float), or an RFC 3339 time. Empty is the zero time.
func parseLogTime(k, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	bad := errdefs.Invalid("invalid value for %s: %q is neither unix seconds nor an RFC 3339 time", k, v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	secs, frac, _ := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || len(frac) > 9 {
		return time.Time{}, bad
	}
	var nsec int64
	if frac != "" {
		if nsec, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil || nsec < 0 {
			return time.Time{}, bad
		}
	}
	if strings.HasPrefix(secs, "-") {
		nsec = -nsec
	}
	return time.Unix(sec, nsec), nil
}

// parseTail reads tail: a number of lines, or "all". Anything else is
// all of the log, as in Docker.
func parseTail(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// logsOptions reads GET /containers/{id}/logs's parameters.
func logsOptions(r *http.Request) (LogsOptions, error) {
	q := r.URL.Query()
	opts := LogsOptions{
		Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"),
		Follow: boolValue(r, "follow"), Timestamps: boolValue(r, "timestamps"),
		Details: boolValue(r, "details"), Tail: parseTail(q.Get("tail")),
	}
	if !opts.Stdout && !opts.Stderr {
		return opts, errdefs.Invalid("Bad parameters: you must choose at least one stream")
	}
	var err error
	if opts.Since, err = parseLogTime("since", q.Get("since")); err != nil {
		return opts, err
	}
	if opts.Until, err = parseLogTime("until", q.Get("until")); err != nil {
		return opts, err
	}
	return opts, nil
}

// containerLogs streams the container's log: stdcopy frames unless the
// container has a tty, each line after its time with timestamps=1, one
// flush a message. A followed log sends its header at once (the log may
// stay empty for long); otherwise the header waits for the first line,
// so that a backend failing at the start still gets an error status.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	opts, err := logsOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	c, err := s.cfg.Containers.ContainerInspect(ctx, nameOf(r), false)
	if err != nil {
		writeError(w, err)
		return
	}
	tty := c.Config != nil && c.Config.Tty
	out := newStream(w, rawStreamType)
	if opts.Follow {
		out.start()
		_ = http.NewResponseController(w).Flush()
	}
	stdout, stderr := outputStreams(out, tty, true, true)
	err = s.cfg.Containers.ContainerLogs(ctx, c.ID, opts, func(m LogMessage) error {
		dst := stdout
		if m.Stream == "stderr" {
			dst = stderr
		}
		line := m.Line
		if opts.Timestamps {
			line = append([]byte(m.Time.Format(rfc3339NanoFixed)+" "), line...)
		}
		_, err := dst.Write(line)
		return err
	})
	switch {
	case err == nil:
		out.start()
	case !out.started:
		writeError(w, err)
	default:
		s.log.Debug("logs ended with an error", "container", c.ID, "err", err)
		_, _ = stderr.Write([]byte("Error grabbing logs: " + err.Error() + "\n"))
	}
}

// containerStats answers GET /containers/{id}/stats: one JSON sample a
// second while stream is true (the default), or one sample.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream") == "" || boolValue(r, "stream")
	if stream && boolValue(r, "one-shot") {
		writeError(w, errdefs.Invalid("cannot have stream=true and one-shot=true"))
		return
	}
	out := newStream(w, "application/json")
	enc := json.NewEncoder(out)
	err := s.cfg.Containers.ContainerStats(r.Context(), nameOf(r), stream, func(st *types.StatsJSON) error {
		return enc.Encode(st)
	})
	if err != nil && out.started {
		// A sample in the middle would be cut: end the connection.
		s.log.Debug("stats ended with an error", "container", nameOf(r), "err", err)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	out.start()
}
