package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a log that the server writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newServer(t *testing.T) (*httptest.Server, *room, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	r := newRoom(log)
	r.now = func() time.Time { return time.Date(2024, 5, 6, 12, 1, 2, 0, time.Local) }
	srv := httptest.NewServer(r.handler())
	t.Cleanup(func() { r.close(); srv.Close() })
	return srv, r, log
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func list(t *testing.T, url string) []Message {
	t.Helper()
	resp, err := http.Get(url + "/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []Message
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPostAndList(t *testing.T) {
	srv, _, log := newServer(t)
	if got := list(t, srv.URL); len(got) != 0 {
		t.Fatalf("new room has %v", got)
	}
	code, m := post(t, srv.URL, `{"name":" alice ","text":"hello\nworld"}`)
	if code != http.StatusCreated || m["name"] != "alice" || m["id"] != 1.0 {
		t.Fatalf("POST = %d %v", code, m)
	}
	got := list(t, srv.URL)
	if len(got) != 1 || got[0].Name != "alice" || got[0].Text != "hello\nworld" {
		t.Errorf("GET /messages = %+v", got)
	}
	if want := "[12:01:02] alice: hello world\n"; log.String() != want {
		t.Errorf("log = %q, want %q", log.String(), want)
	}
}

func TestKeepsLast100(t *testing.T) {
	srv, _, _ := newServer(t)
	for i := 1; i <= 105; i++ {
		if code, _ := post(t, srv.URL, fmt.Sprintf(`{"name":"n","text":"m%d"}`, i)); code != http.StatusCreated {
			t.Fatalf("POST %d = %d", i, code)
		}
	}
	got := list(t, srv.URL)
	if len(got) != 100 || got[0].Text != "m6" || got[99].Text != "m105" {
		t.Errorf("kept %d messages, %s..%s", len(got), got[0].Text, got[len(got)-1].Text)
	}
}

func TestLimitsAndBadInput(t *testing.T) {
	srv, _, log := newServer(t)
	tests := []struct {
		body     string
		code     int
		errorHas string
	}{
		{`{"name":"` + strings.Repeat("n", 40) + `","text":"` + strings.Repeat("t", 1000) + `"}`, 201, ""},
		{`{"name":"` + strings.Repeat("n", 41) + `","text":"hi"}`, 400, "name is 41 bytes long, at most 40"},
		{`{"name":"bob","text":"` + strings.Repeat("t", 1001) + `"}`, 400, "text is 1001 bytes long, at most 1000"},
		{`{"name":"","text":"hi"}`, 400, "name is empty"},
		{`{"name":"bob","text":"   "}`, 400, "text is empty"},
		{`{"name":"bob",`, 400, "bad JSON"},
		{`not json`, 400, "bad JSON"},
		{`{"name":"` + strings.Repeat("x", 20000) + `"}`, 413, "body larger"},
	}
	for _, tt := range tests {
		code, out := post(t, srv.URL, tt.body)
		msg, _ := out["error"].(string)
		if code != tt.code || !strings.Contains(msg, tt.errorHas) {
			t.Errorf("POST %.40s... = %d %q, want %d %q", tt.body, code, msg, tt.code, tt.errorHas)
		}
	}
	if n := len(list(t, srv.URL)); n != 1 {
		t.Errorf("%d messages kept, want only the valid one", n)
	}
	if n := strings.Count(log.String(), "\n"); n != 1 {
		t.Errorf("%d log lines, want 1", n)
	}
	resp, err := http.Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestHealthzAndPage(t *testing.T) {
	srv, _, _ := newServer(t)
	if err := healthcheck(srv.URL + "/healthz"); err != nil {
		t.Errorf("healthcheck of a live server: %v", err)
	}
	if err := healthcheck(srv.URL + "/nothing-here"); err == nil {
		t.Error("healthcheck of a 404 passed")
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page bytes.Buffer
	page.ReadFrom(resp.Body)
	if !strings.Contains(page.String(), `new EventSource("events")`) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / = %s %.80q", resp.Header.Get("Content-Type"), page.String())
	}
	if strings.Contains(page.String(), "http://") || strings.Contains(page.String(), "https://") {
		t.Error("the page loads external resources")
	}
}

// readEvents returns the messages of an event stream, one at a time.
func readEvents(t *testing.T, url, lastID string) (<-chan Message, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	out := make(chan Message, 200)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m Message
				json.Unmarshal([]byte(data), &m)
				out <- m
			}
		}
	}()
	return out, cancel
}

func next(t *testing.T, ch <-chan Message) Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Message{}
}

func TestEventsDeliverLiveAndResume(t *testing.T) {
	srv, _, _ := newServer(t)
	post(t, srv.URL, `{"name":"a","text":"before"}`)
	events, stop := readEvents(t, srv.URL, "")
	defer stop()
	if m := next(t, events); m.Text != "before" || m.ID != 1 {
		t.Errorf("backlog event %+v", m)
	}
	post(t, srv.URL, `{"name":"b","text":"live"}`)
	if m := next(t, events); m.Text != "live" || m.Name != "b" || m.ID != 2 {
		t.Errorf("live event %+v", m)
	}
	post(t, srv.URL, `{"name":"c","text":"third"}`)

	// A browser reconnecting after event 2 gets only what it missed.
	resumed, stop2 := readEvents(t, srv.URL, "2")
	defer stop2()
	if m := next(t, resumed); m.Text != "third" {
		t.Errorf("resumed stream starts with %+v, want the third message", m)
	}
}

func TestServeStopsWithOpenStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, addr, log) }()
	url := "http://" + addr
	deadline := time.Now().Add(5 * time.Second)
	for healthcheck(url+"/healthz") != nil {
		if time.Now().After(deadline) {
			t.Fatal("server did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	events, stop := readEvents(t, url, "")
	defer stop()
	cancel() // as SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v, want nil", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("shutdown waited for the open event stream")
	}
	for range events {
	}
	if !strings.Contains(log.String(), "chit-chat stopped") {
		t.Errorf("log %q", log.String())
	}
}

// TestSIGTERMExitsZero runs the real main in a child process (this test
// binary again) and stops it as a container runtime stops pid 1.
func TestSIGTERMExitsZero(t *testing.T) {
	if os.Getenv("CHIT_CHAT_RUN_MAIN") == "1" {
		os.Args = []string{"chit-chat"}
		main()
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGTERMExitsZero$")
	cmd.Env = append(os.Environ(), "CHIT_CHAT_RUN_MAIN=1", "PORT="+port)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	url := "http://127.0.0.1:" + port + "/healthz"
	deadline := time.Now().Add(10 * time.Second)
	for healthcheck(url) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v; output %s", err, out.String())
	}
	if !strings.Contains(out.String(), "chit-chat stopped") {
		t.Errorf("output %q", out.String())
	}
}
