package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
)

// logToFile is true when --log sends log lines away from stderr: errors are
// then written to both, so a user at a terminal still sees them.
var logToFile bool

// setupLogging writes runc-style log lines: `--log-format json` gives one
// JSON object a line with level, msg and time, which containerd and Docker
// read to show why a container failed to start.
func setupLogging(ctx *cli.Context) error {
	var out io.Writer = os.Stderr
	if path := ctx.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", path, err)
		}
		out = f
		logToFile = true
	}
	level := slog.LevelWarn
	if ctx.Bool("debug") {
		level = slog.LevelDebug
	}
	var json bool
	switch ctx.String("log-format") {
	case "json":
		json = true
	case "text", "":
	default:
		return fmt.Errorf("--log-format %q: must be text or json", ctx.String("log-format"))
	}
	slog.SetDefault(slog.New(&logHandler{out: out, level: level, json: json}))
	return nil
}

// logHandler formats records as runc (logrus) does; levels are lower case.
type logHandler struct {
	mu    sync.Mutex
	out   io.Writer
	level slog.Level
	json  bool
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *logHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *logHandler) WithGroup(string) slog.Handler                { return h }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	level := strings.ToLower(r.Level.String())
	if r.Level == slog.LevelWarn {
		level = "warning"
	}
	var line []byte
	if h.json {
		obj := map[string]any{"level": level, "msg": r.Message, "time": r.Time.Format(time.RFC3339Nano)}
		r.Attrs(func(a slog.Attr) bool {
			obj[a.Key] = a.Value.Any()
			return true
		})
		line, _ = json.Marshal(obj)
		line = append(line, '\n')
	} else {
		var b strings.Builder
		b.WriteString("xrt: ")
		if r.Level != slog.LevelError {
			b.WriteString(level + ": ")
		}
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
			return true
		})
		b.WriteByte('\n')
		line = []byte(b.String())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.out.Write(line)
	return err
}
