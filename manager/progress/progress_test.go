package progress

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestJSONLines(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"message", Message("Digest: sha256:ab"), `{"status":"Digest: sha256:ab"}`},
		{"tag line", Event{ID: "latest", Status: "Pulling from library/busybox"}, `{"status":"Pulling from library/busybox","id":"latest"}`},
		{"update", Update("3f4d90098f5b", "Pulling fs layer"), `{"status":"Pulling fs layer","progressDetail":{},"id":"3f4d90098f5b"}`},
		{"bytes", Bytes("3f4d90098f5b", "Downloading", 1000000, 4000000),
			`{"status":"Downloading","progressDetail":{"current":1000000,"total":4000000},"progress":"[============\u003e                                      ]      1MB/4MB","id":"3f4d90098f5b"}`},
		{"error", Event{Error: "manifest unknown"}, `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`},
		{"aux", Event{Aux: json.RawMessage(`{"Tag":"1","Digest":"sha256:ab","Size":527}`)}, `{"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:ab","Size":527}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			NewJSON(&b).Send(tt.ev)
			// json.Encoder escapes nothing here (SetEscapeHTML false), so
			// compare against the decoded-then-reencoded expectation.
			want := strings.ReplaceAll(tt.want, `\u003e`, ">") + "\n"
			if b.String() != want {
				t.Errorf("got  %s\nwant %s", b.String(), want)
			}
		})
	}
}

func TestBar(t *testing.T) {
	tests := []struct {
		cur, total int64
		width      int
		want       string
	}{
		{0, 0, 200, ""},
		{1500, 0, 200, "   1.5kB"},
		{0, 100, 200, "[>" + strings.Repeat(" ", 50) + "]       0B/100B"},
		{100, 100, 200, "[" + strings.Repeat("=", 50) + ">] " + "    100B/100B"},
		{50, 100, 80, "     50B/100B"}, // narrow terminal: no bar
		{150, 100, 200, "[" + strings.Repeat("=", 50) + ">] " + "    150B"},
	}
	for _, tt := range tests {
		if got := bar(tt.cur, tt.total, tt.width); got != tt.want {
			t.Errorf("bar(%d, %d, %d) = %q, want %q", tt.cur, tt.total, tt.width, got, tt.want)
		}
	}
}

// stream writes events through the JSON sink, as the daemon would.
func stream(evs ...Event) *bytes.Buffer {
	var b bytes.Buffer
	s := NewJSON(&b)
	for _, e := range evs {
		s.Send(e)
	}
	return &b
}

var pull = []Event{
	{ID: "latest", Status: "Pulling from library/busybox"},
	Update("aaaaaaaaaaaa", "Pulling fs layer"),
	Update("bbbbbbbbbbbb", "Pulling fs layer"),
	Bytes("aaaaaaaaaaaa", "Downloading", 10, 20),
	Bytes("bbbbbbbbbbbb", "Downloading", 5, 20),
	Update("aaaaaaaaaaaa", "Download complete"),
	Update("bbbbbbbbbbbb", "Pull complete"),
	Update("aaaaaaaaaaaa", "Pull complete"),
	Message("Digest: sha256:cc"),
	Message("Status: Downloaded newer image for busybox:latest"),
}

func TestDisplayPlain(t *testing.T) {
	var out bytes.Buffer
	if err := Display(stream(pull...), &out, false); err != nil {
		t.Fatal(err)
	}
	want := `latest: Pulling from library/busybox
aaaaaaaaaaaa: Pulling fs layer
bbbbbbbbbbbb: Pulling fs layer
aaaaaaaaaaaa: Download complete
bbbbbbbbbbbb: Pull complete
aaaaaaaaaaaa: Pull complete
Digest: sha256:cc
Status: Downloaded newer image for busybox:latest
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDisplayTerminal(t *testing.T) {
	var out bytes.Buffer
	if err := Display(stream(pull[:4]...), &out, true); err != nil {
		t.Fatal(err)
	}
	const clear = "\x1b[2K\r"
	want := "latest: Pulling from library/busybox\n" +
		// a new item: a new line, up one, draw, down one
		"\n\x1b[1A" + clear + "aaaaaaaaaaaa: Pulling fs layer \r\x1b[1B" +
		"\n\x1b[1A" + clear + "bbbbbbbbbbbb: Pulling fs layer \r\x1b[1B" +
		// an update of the first item: up two, redraw, down two
		"\x1b[2A" + clear + "aaaaaaaaaaaa: Downloading [" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 25) + "]      10B/20B\r\x1b[2B"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

func TestDisplayError(t *testing.T) {
	var out bytes.Buffer
	var aux []string
	err := DisplayAux(stream(Update("x", "Pulling fs layer"), Event{Aux: json.RawMessage(`{"a":1}`)}, Event{Error: "blob unknown"}, Message("never shown")),
		&out, false, func(m json.RawMessage) { aux = append(aux, string(m)) })
	if err == nil || err.Error() != "blob unknown" || !IsStreamError(err) {
		t.Fatalf("err = %v, want the stream's error", err)
	}
	if strings.Contains(out.String(), "never shown") {
		t.Errorf("output went on after the error: %q", out.String())
	}
	if len(aux) != 1 || aux[0] != `{"a":1}` {
		t.Errorf("aux = %v", aux)
	}
	if err := Display(strings.NewReader("{not json"), io.Discard, false); err == nil || IsStreamError(err) {
		t.Errorf("bad stream: err = %v, want a decode error", err)
	}
}

func TestReaderThrottles(t *testing.T) {
	const total = 10 << 20
	var rec Recorder
	n, err := io.Copy(io.Discard, Reader(bytes.NewReader(make([]byte, total)), &rec, "id", "Downloading", total))
	if err != nil || n != total {
		t.Fatalf("copy: %d, %v", n, err)
	}
	evs := rec.Events()
	if len(evs) == 0 || len(evs) > 101 {
		t.Fatalf("%d events for 10MiB, want 1..101", len(evs))
	}
	last := evs[len(evs)-1]
	if last.Current != total || last.Total != total || last.ID != "id" || last.Status != "Downloading" {
		t.Errorf("last event %+v, want the full count", last)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Current <= evs[i-1].Current {
			t.Errorf("event %d does not advance: %d after %d", i, evs[i].Current, evs[i-1].Current)
		}
	}
}

func TestStarted(t *testing.T) {
	var b bytes.Buffer
	s := NewJSON(&b)
	if Started(s) {
		t.Error("Started before any event")
	}
	s.Send(Message("x"))
	if !Started(s) {
		t.Error("not Started after an event")
	}
	if Started(Discard) || Started(&Recorder{}) {
		t.Error("Started is true for a sink that does not track it")
	}
}

// dockerdPush is what dockerd 20.10 streamed for a push (captured here
// from its API); Display must show it as the Docker CLI does.
const dockerdPush = `{"status":"The push refers to repository [127.0.0.1:45913/m3/bb]"}
{"status":"Preparing","progressDetail":{},"id":"ca7552bf4314"}
{"status":"Pushing","progressDetail":{"current":66560,"total":4982256},"progress":"[\u003e                                                  ]  66.56kB/4.982MB","id":"ca7552bf4314"}
{"status":"Pushing","progressDetail":{"current":4986880,"total":4982256},"progress":"[==================================================\u003e]  4.987MB","id":"ca7552bf4314"}
{"status":"Pushed","progressDetail":{},"id":"ca7552bf4314"}
{"status":"1: digest: sha256:5b179d268b06674466431eb73b89de3ffdbf2efb8adc693a9bd965cc66fe5ae0 size: 527"}
{"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:5b179d268b06674466431eb73b89de3ffdbf2efb8adc693a9bd965cc66fe5ae0","Size":527}}
`

func TestDisplayDockerdStream(t *testing.T) {
	var out bytes.Buffer
	var aux string
	if err := DisplayAux(strings.NewReader(dockerdPush), &out, false, func(m json.RawMessage) { aux = string(m) }); err != nil {
		t.Fatal(err)
	}
	want := `The push refers to repository [127.0.0.1:45913/m3/bb]
ca7552bf4314: Preparing
ca7552bf4314: Pushed
1: digest: sha256:5b179d268b06674466431eb73b89de3ffdbf2efb8adc693a9bd965cc66fe5ae0 size: 527
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if !strings.Contains(aux, `"Size":527`) {
		t.Errorf("aux = %s", aux)
	}
	// Our own bar for the same numbers matches dockerd's string.
	if got := bar(4986880, 4982256, serverWidth); got != "[==================================================>]  4.987MB" {
		t.Errorf("bar = %q", got)
	}
	if got := bar(66560, 4982256, serverWidth); got != "[>                                                  ]  66.56kB/4.982MB" {
		t.Errorf("bar = %q", got)
	}
}
