package server

import (
	"strings"
	"sync"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// eventsBacklog is how many past events GET /events?since= can replay.
const eventsBacklog = 1024

// Events is the daemon's event log: a bounded backlog for `since` and a
// fan-out to the clients following GET /events. A slow follower loses
// events rather than stalling the operation that published them.
type Events struct {
	mu      sync.Mutex
	backlog []types.EventMessage
	subs    map[chan types.EventMessage]struct{}
	closed  bool
}

// NewEvents makes an empty event log.
func NewEvents() *Events {
	return &Events{subs: map[chan types.EventMessage]struct{}{}}
}

// Publish records an event of typ and action about id, with attributes.
func (e *Events) Publish(typ, action, id string, attrs map[string]string) {
	now := time.Now()
	m := types.EventMessage{
		Type: typ, Action: action,
		Actor: types.EventActor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano(),
	}
	switch typ {
	case types.ImageEventType:
		// The pre-1.22 fields, which Docker still fills for images and
		// containers.
		m.Status, m.ID = action, id
	case types.ContainerEventType:
		m.Status, m.ID, m.From = action, id, attrs["image"]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.backlog) == eventsBacklog {
		copy(e.backlog, e.backlog[1:])
		e.backlog = e.backlog[:eventsBacklog-1]
	}
	e.backlog = append(e.backlog, m)
	for ch := range e.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// Subscribe returns the recorded events since the given time (none when
// since is zero) and a channel of the ones to come; cancel ends the
// subscription. The channel is closed when the log is closed.
func (e *Events) Subscribe(since time.Time) (past []types.EventMessage, ch <-chan types.EventMessage, cancel func()) {
	c := make(chan types.EventMessage, 256)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !since.IsZero() {
		for _, m := range e.backlog {
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	if e.closed {
		close(c)
		return past, c, func() {}
	}
	e.subs[c] = struct{}{}
	var once sync.Once
	return past, c, func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if _, ok := e.subs[c]; ok {
				delete(e.subs, c)
				close(c)
			}
		})
	}
}

// Listeners is the number of current followers (Info.NEventsListener).
func (e *Events) Listeners() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}

// Close ends every subscription, so that a graceful shutdown does not wait
// for followers that would never leave.
func (e *Events) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for ch := range e.subs {
		delete(e.subs, ch)
		close(ch)
	}
}

// matchEvent applies the filters of GET /events: type, event (action),
// image (an image event's ID or name, a container event's image),
// container, network and volume (ID or name, of events of that type)
// and label.
func matchEvent(m types.EventMessage, f types.Filters) bool {
	if vs := f["type"]; len(vs) > 0 && !vs[m.Type] {
		return false
	}
	if vs := f["event"]; len(vs) > 0 && !vs[m.Action] && !vs[strings.SplitN(m.Action, ":", 2)[0]] {
		return false
	}
	if vs := f["image"]; len(vs) > 0 {
		hit := m.Type == types.ImageEventType && (vs[m.Actor.ID] || vs[m.Actor.Attributes["name"]]) ||
			m.Type == types.ContainerEventType && vs[m.Actor.Attributes["image"]]
		if !hit {
			return false
		}
	}
	for _, typ := range []string{types.ContainerEventType, types.NetworkEventType, types.VolumeEventType} {
		vs := f[typ]
		if len(vs) == 0 {
			continue
		}
		if m.Type != typ || !vs[m.Actor.ID] && !vs[m.Actor.Attributes["name"]] && !prefixOf(vs, m.Actor.ID) {
			return false
		}
	}
	for l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := m.Actor.Attributes[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

// prefixOf reports whether one of vs is a prefix of id (a short ID).
func prefixOf(vs map[string]bool, id string) bool {
	for v := range vs {
		if len(v) >= 12 && strings.HasPrefix(id, v) {
			return true
		}
	}
	return false
}
