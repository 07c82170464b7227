package types

// Event types and the image actions xmgr reports on GET /events.
const (
	ImageEventType = "image"
)

// EventActor is the object an event is about.
type EventActor struct {
	ID         string
	Attributes map[string]string
}

// EventMessage is one line of GET /events (Docker's events.Message). The
// lower-case fields repeat Type/Action/Actor in the pre-1.22 form that old
// clients still read.
type EventMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`

	Type   string
	Action string
	Actor  EventActor
	Scope  string `json:"scope,omitempty"`

	Time     int64 `json:"time,omitempty"`
	TimeNano int64 `json:"timeNano,omitempty"`
}
