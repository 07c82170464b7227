package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
)

// listen opens the listeners for one host address. A unix socket left by
// a dead daemon is removed first (the caller holds the exec-root lock, so
// no live daemon owns it) and the new one gets mode 0660.
func listen(host, group string, log *slog.Logger) ([]net.Listener, error) {
	proto, addr, _ := strings.Cut(host, "://")
	switch proto {
	case "unix":
		if err := os.MkdirAll(filepath.Dir(addr), 0o711); err != nil {
			return nil, err
		}
		if err := os.Remove(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing the stale socket %s: %w", addr, err)
		}
		l, err := net.Listen("unix", addr)
		if err != nil {
			return nil, err
		}
		gid := 0
		if group != "" {
			g, err := user.LookupGroup(group)
			if err != nil {
				l.Close()
				return nil, fmt.Errorf("socket group %q: %w", group, err)
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
		if err := os.Chown(addr, 0, gid); err != nil {
			l.Close()
			return nil, err
		}
		if err := os.Chmod(addr, 0o660); err != nil {
			l.Close()
			return nil, err
		}
		return []net.Listener{l}, nil
	case "tcp":
		log.Warn("serving the API on TCP without TLS: anyone who can reach it controls the daemon", "addr", addr)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return []net.Listener{l}, nil
	case "fd":
		ls, err := activation.Listeners()
		if err != nil {
			return nil, fmt.Errorf("socket activation: %w", err)
		}
		var out []net.Listener
		for _, l := range ls {
			if l != nil {
				out = append(out, l)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("socket activation: no sockets were passed (LISTEN_FDS unset?)")
		}
		return out, nil
	}
	return nil, fmt.Errorf("invalid host %q", host)
}
