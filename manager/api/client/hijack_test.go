package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// echoServer upgrades /attach and /exec/x/start and echoes what it reads,
// upper-cased, until the client half-closes.
func echoServer(t *testing.T) *Client {
	t.Helper()
	mux := http.NewServeMux()
	upgrade := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "tcp" || r.Header.Get("Connection") != "Upgrade" {
			http.Error(w, `{"message":"no upgrade asked"}`, http.StatusBadRequest)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		_, _ = io.WriteString(conn, r.URL.RawQuery+"\n")
		b, _ := io.ReadAll(buf)
		_, _ = io.WriteString(conn, strings.ToUpper(string(b)))
	}
	mux.HandleFunc("/v1.41/containers/c1/attach", upgrade)
	mux.HandleFunc("/v1.41/exec/e1/start", upgrade)
	mux.HandleFunc("/v1.41/containers/missing/attach", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"No such container: missing"}`)
	})
	mux.HandleFunc("/v1.41/containers/c1/wait", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, `{"StatusCode":3}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAttachHijack(t *testing.T) {
	c := echoServer(t)
	h, err := c.ContainerAttach(context.Background(), "c1", AttachOptions{Stream: true, Stdin: true, Stdout: true, DetachKeys: "ctrl-x"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := io.WriteString(h.Conn, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := h.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(h.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want := "detachKeys=ctrl-x&stdin=1&stdout=1&stream=1\nHELLO"
	if string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestExecAttachHijack(t *testing.T) {
	c := echoServer(t)
	h, err := c.ContainerExecAttach(context.Background(), "e1", types.ExecStartRequest{Tty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_ = h.CloseWrite()
	out, _ := io.ReadAll(h.Reader)
	// No query; the JSON body arrives on the upgraded connection's start.
	if want := "\n" + `{"DETACH":FALSE,"TTY":TRUE}`; string(out) != want {
		t.Fatalf("got %q", out)
	}
}

func TestAttachError(t *testing.T) {
	c := echoServer(t)
	_, err := c.ContainerAttach(context.Background(), "missing", AttachOptions{Stream: true, Stdout: true})
	if !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "No such container: missing" {
		t.Fatalf("got %v, want the daemon's not-found message", err)
	}
}

func TestWaitReturnsAfterHeader(t *testing.T) {
	c := echoServer(t)
	res, errc := c.ContainerWait(context.Background(), "c1", "next-exit")
	select {
	case r := <-res:
		if r.StatusCode != 3 {
			t.Fatalf("status %d, want 3", r.StatusCode)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
}

func TestHijackNoDaemon(t *testing.T) {
	c, err := New("unix:///nonexistent/xmgr-test.sock")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ContainerAttach(context.Background(), "c1", AttachOptions{Stream: true})
	if !IsConnectionError(err) {
		t.Fatalf("got %v, want a connection error", err)
	}
}
