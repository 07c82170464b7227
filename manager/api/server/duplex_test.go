package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// quitter is a backend whose load and import give up without reading
// their input, after writing progress or not: the error paths that used
// to make net/http panic once the handler returned (golang/go#68560).
type quitter struct {
	*fakeImages
	progress bool
}

func (q *quitter) LoadImages(_ context.Context, _ io.Reader, out io.Writer) ([]string, error) {
	if q.progress && out != nil {
		fmt.Fprintln(out, `{"status":"Loading"}`)
	}
	return nil, errdefs.Invalid("not a docker archive")
}

func (q *quitter) ImportImage(_ context.Context, _ io.Reader, _, _ string, _ []string, _ string) (string, error) {
	return "", errdefs.Invalid("bad change")
}

// logBuffer collects the server's error log (where net/http reports a
// panic in a connection's goroutine).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEarlyFailureKeepsConnection sends a load or import whose backend
// fails without reading the body, then a second request on the same
// keep-alive connection: it must be answered, and the server must not
// have logged a panic.
func TestEarlyFailureKeepsConnection(t *testing.T) {
	tests := []struct {
		name, path string
		progress   bool
		size       int
		wantStatus int
	}{
		{"load fails at once", "/v1.41/images/load", false, 64 << 10, http.StatusBadRequest},
		{"load fails after progress", "/v1.41/images/load", true, 64 << 10, http.StatusOK},
		{"quiet load", "/images/load?quiet=1", false, 1 << 10, http.StatusBadRequest},
		{"import from stdin fails", "/images/create?fromSrc=-&repo=m5dup", false, 64 << 10, http.StatusBadRequest},
		// Beyond net/http's drain limit the connection is closed instead;
		// the client sees a fresh one, still without a panic.
		{"big body", "/images/load", false, 1 << 20, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			s := New(Config{Images: &quitter{fakeImages: newFake(), progress: tc.progress}})
			ts := httptest.NewUnstartedServer(s)
			ts.Config.ErrorLog = log.New(logs, "", 0)
			ts.Start()
			t.Cleanup(ts.Close)
			t.Cleanup(s.Events().Close)
			addr := strings.TrimPrefix(ts.URL, "http://")

			// Several rounds: the panic needed the server to reach its wait
			// for the next request before that request arrived, the usual
			// order but not a certain one.
			for round := 0; round < 5; round++ {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(conn)
				body := bytes.Repeat([]byte("x"), tc.size)
				fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n", tc.path, len(body))
				// The server may answer before it has read the body; write
				// it from a goroutine so neither side waits on the other.
				done := make(chan error, 1)
				go func() { _, err := conn.Write(body); done <- err }()
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					conn.Close()
					t.Fatalf("round %d: reading the answer: %v", round, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.wantStatus || !strings.Contains(string(b), "not a") && !strings.Contains(string(b), "bad change") {
					t.Errorf("round %d: %d %s", round, resp.StatusCode, b)
				}
				<-done
				if resp.Close || tc.size > 256<<10 {
					conn.Close()
					continue
				}
				fmt.Fprintf(conn, "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err = http.ReadResponse(br, nil)
				if err != nil {
					conn.Close()
					t.Fatalf("round %d: the next request on the connection: %v (server log: %s)", round, err, logs)
				}
				b, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				conn.Close()
				if resp.StatusCode != http.StatusOK || string(b) != "OK" {
					t.Errorf("round %d: ping after the failure: %d %q", round, resp.StatusCode, b)
				}
			}
			ts.Close() // waits for the connections' goroutines
			if strings.Contains(logs.String(), "panic") {
				t.Errorf("server log:\n%s", logs)
			}
		})
	}
}
