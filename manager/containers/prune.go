package containers

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ContainersPrune is POST /containers/prune: it removes every stopped
// container (created, exited, dead) the filters (until, label, label!)
// keep.
func (m *Manager) ContainersPrune(ctx context.Context, f types.Filters) (*types.ContainersPruneReport, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	var until time.Time
	if vs := f.Get("until"); len(vs) > 0 {
		t, err := parseUntil(vs[0], time.Now())
		if err != nil {
			return nil, err
		}
		until = t
	}
	rep := &types.ContainersPruneReport{ContainersDeleted: []string{}}
	for _, c := range m.list() {
		c.mu.Lock()
		stopped := !c.State.Running() && c.State.Status != types.StateRestarting && c.State.Status != types.StateRemoving
		keep := !stopped ||
			!until.IsZero() && !c.Created.Before(until) ||
			!labelsMatch(c.Config.Labels, f.Get("label"), true) ||
			!labelsMatch(c.Config.Labels, f.Get("label!"), false)
		id := c.ID
		c.mu.Unlock()
		if keep {
			continue
		}
		size, _ := m.cfg.Layers.Snapshotter().Usage(c.SnapshotKey)
		if err := m.ContainerRemove(ctx, id, false, false); err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				continue // removed or started meanwhile
			}
			return rep, err
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, id)
		rep.SpaceReclaimed += uint64(size)
	}
	return rep, nil
}

// parseUntil reads an until filter: a Unix time (with fraction), an
// RFC 3339 date or time, or a duration before now ("10m").
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	secs, frac, _ := strings.Cut(v, ".")
	if sec, err := strconv.ParseInt(secs, 10, 64); err == nil {
		var nsec int64
		if frac != "" {
			frac = (frac + "000000000")[:9]
			if nsec, err = strconv.ParseInt(frac, 10, 64); err != nil {
				return time.Time{}, errdefs.Invalid("invalid filter 'until=%s'", v)
			}
		}
		return time.Unix(sec, nsec), nil
	}
	return time.Time{}, errdefs.Invalid("invalid filter 'until=%s'", v)
}
