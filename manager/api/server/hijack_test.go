package server

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// hijackConn sends a raw request on a new connection to addr (a TCP
// address, or a unix socket path when network is "unix") and reads the
// answer's head. upgrade adds Docker's "Connection: Upgrade, Upgrade:
// tcp".
func hijackConn(t *testing.T, network, addr, path, body string, upgrade bool) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := "POST " + path + " HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
	if upgrade {
		head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
	}
	head += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head+body); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp
}

// readFrames reads stdcopy frames until EOF and returns each stream's
// bytes.
func readFrames(t *testing.T, r io.Reader) map[byte]string {
	t.Helper()
	out := map[byte]string{}
	hdr := make([]byte, frameHeaderLen)
	for {
		if _, err := io.ReadFull(r, hdr); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("frame header: %v (so far %q)", err, out)
		}
		if hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0 || hdr[0] > streamStderr {
			t.Fatalf("bad frame header % x (so far %q)", hdr, out)
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
		if _, err := io.ReadFull(r, p); err != nil {
			t.Fatalf("frame payload: %v", err)
		}
		out[hdr[0]] += string(p)
	}
}

func closeWrite(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

func hostOf(url string) string { return strings.TrimPrefix(url, "http://") }

// TestAttachMultiplexed writes stdin on the upgraded connection, half-
// closes, and reads the echo on stdout and "bye" on stderr as frames,
// then EOF.
func TestAttachMultiplexed(t *testing.T) {
	f, url := startContainers(t)
	conn, br, resp := hijackConn(t, "tcp", hostOf(url),
		"/v1.41/containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x", "", true)
	if resp.StatusCode != 101 || resp.Header.Get("Content-Type") != rawStreamType ||
		resp.Header.Get("Connection") != "Upgrade" || resp.Header.Get("Upgrade") != "tcp" || resp.Header.Get("Api-Version") != "1.41" {
		t.Fatalf("attach answer: %s %v", resp.Status, resp.Header)
	}
	if _, err := io.WriteString(conn, "hello "); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "world"); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, conn)
	got := readFrames(t, br)
	if got[streamStdout] != "HELLO WORLD" || got[streamStderr] != "bye\n" || len(got) != 2 {
		t.Errorf("frames %q", got)
	}
	want := "attach c1 stdin=true stdout=true stderr=true logs=false stream=true keys=ctrl-x"
	if !slices.Contains(f.called(), want) {
		t.Errorf("calls %q, want %q", f.called(), want)
	}
}

// TestAttachTTYOverUnix: a tty container's output is raw, here over a
// unix socket as the daemon serves it.
func TestAttachTTYOverUnix(t *testing.T) {
	f := newFakeBackend()
	s := New(Config{Containers: f})
	sock := filepath.Join(t.TempDir(), "x.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	conn, br, resp := hijackConn(t, "unix", sock, "/containers/term/attach?stream=1&stdin=1&stdout=1&stderr=1", "", true)
	if resp.StatusCode != 101 {
		t.Fatalf("attach: %s", resp.Status)
	}
	io.WriteString(conn, "hi\n")
	closeWrite(t, conn)
	b, err := io.ReadAll(br)
	if err != nil || string(b) != "HI\nbye\n" {
		t.Errorf("raw stream %q, %v", b, err)
	}
}

// TestAttachThenStart is docker run's order: attach (no stdin), then
// start; the output arrives after the start and the stream then ends.
func TestAttachThenStart(t *testing.T) {
	f, url := startContainers(t)
	_, br, resp := hijackConn(t, "tcp", hostOf(url), "/containers/web/attach?stream=1&stdout=1&stderr=1", "", true)
	if resp.StatusCode != 101 {
		t.Fatalf("attach: %s", resp.Status)
	}
	if status, body, _ := call(t, "POST", url+"/containers/stopped/start", ""); status != 204 {
		t.Fatalf("start: %d %s", status, body)
	}
	if got := readFrames(t, br); got[streamStdout] != "started\n" || len(got) != 1 {
		t.Errorf("frames %q", got)
	}
	if !slices.Contains(f.called(), "attach c1 stdin=false stdout=true stderr=true logs=false stream=true keys=") {
		t.Errorf("calls %q", f.called())
	}
}

func TestAttachWithoutUpgrade(t *testing.T) {
	_, url := startContainers(t)
	conn, br, resp := hijackConn(t, "tcp", hostOf(url), "/containers/web/attach?stream=1&stdin=1&stdout=1", "", false)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != rawStreamType {
		t.Fatalf("attach: %s %v", resp.Status, resp.Header)
	}
	io.WriteString(conn, "x")
	closeWrite(t, conn)
	if got := readFrames(t, br); got[streamStdout] != "X" || len(got) != 1 {
		t.Errorf("frames %q (stderr not asked for)", got)
	}
}

func TestAttachErrors(t *testing.T) {
	_, url := startContainers(t)
	for _, tt := range []struct {
		name   string
		status int
		msg    string
	}{
		{"nosuch", 404, "No such container: nosuch"},
		{"paused", 409, "You cannot attach to a paused container, unpause it first"},
	} {
		_, br, resp := hijackConn(t, "tcp", hostOf(url), "/containers/"+tt.name+"/attach?stream=1&stdout=1", "", true)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.msg) {
			t.Errorf("attach %s: %s %q", tt.name, resp.Status, b)
		}
		_ = br
	}
	// An error once the stream is up travels in it, on stderr.
	_, br, resp := hijackConn(t, "tcp", hostOf(url), "/containers/stopped/attach?stream=1&stdout=1", "", true)
	if resp.StatusCode != 101 {
		t.Fatalf("attach: %s", resp.Status)
	}
	if got := readFrames(t, br); got[streamStderr] != "Error attaching: container c3 went away\r\n" {
		t.Errorf("frames %q", got)
	}
}

func TestExecStartHijacked(t *testing.T) {
	f, url := startContainers(t)
	// Multiplexed, stdin echoed.
	conn, br, resp := hijackConn(t, "tcp", hostOf(url), "/v1.41/exec/e1/start", `{"Detach":false,"Tty":false}`, true)
	if resp.StatusCode != 101 || resp.Header.Get("Content-Type") != rawStreamType {
		t.Fatalf("exec start: %s %v", resp.Status, resp.Header)
	}
	io.WriteString(conn, "ls\n")
	closeWrite(t, conn)
	if got := readFrames(t, br); got[streamStdout] != "LS\n" || got[streamStderr] != "bye\n" {
		t.Errorf("frames %q", got)
	}
	if !slices.Contains(f.called(), "exec-start e1 detach=false stdin=true stdout=true stderr=true") {
		t.Errorf("calls %q", f.called())
	}

	// A tty exec is raw, whether the start asks for the tty or the exec
	// was created with one; so is a start that asks for it.
	for _, tt := range []struct{ id, body, want string }{
		{"e2", `{"Tty":true}`, "out err "},
		{"e2", `{}`, "out err "},
		{"e2", ``, "out err "},
		{"e1", `{"Tty":true}`, "Q\nbye\n"},
	} {
		conn, br, resp := hijackConn(t, "tcp", hostOf(url), "/exec/"+tt.id+"/start", tt.body, true)
		if resp.StatusCode != 101 {
			t.Fatalf("exec start %s %s: %s", tt.id, tt.body, resp.Status)
		}
		io.WriteString(conn, "q\n")
		closeWrite(t, conn)
		if b, err := io.ReadAll(br); err != nil || string(b) != tt.want {
			t.Errorf("exec %s %s: raw stream %q %v, want %q", tt.id, tt.body, b, err, tt.want)
		}
	}

	// An error once the stream is up travels in it.
	_, br, resp = hijackConn(t, "tcp", hostOf(url), "/exec/e3/start", `{}`, true)
	if resp.StatusCode != 101 {
		t.Fatalf("exec start e3: %s", resp.Status)
	}
	if got := readFrames(t, br); got[streamStderr] != "Container c1 is not running\r\n" {
		t.Errorf("frames %q", got)
	}
	if !slices.Contains(f.called(), "exec-start e3 detach=false stdin=false stdout=true stderr=false") {
		t.Errorf("e3 streams: calls %q", f.called())
	}
}

// TestOutputSurvivesUnreadInput: the client sent input that nothing
// read (the exec has no stdin); the output must still arrive whole, not
// be lost to a connection reset.
func TestOutputSurvivesUnreadInput(t *testing.T) {
	_, url := startContainers(t)
	for i := 0; i < 5; i++ {
		conn, err := net.Dial("tcp", hostOf(url))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		body := `{}`
		req := fmt.Sprintf("POST /exec/e3/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		junk := strings.Repeat("j", 200<<10)
		if _, err := io.WriteString(conn, req+junk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the server has answered and finished
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if resp.StatusCode != 101 {
			t.Fatalf("round %d: %s", i, resp.Status)
		}
		if got := readFrames(t, br); got[streamStderr] != "Container c1 is not running\r\n" {
			t.Errorf("round %d: frames %q", i, got)
		}
		conn.Close()
	}
}
