package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// rawStreamType is the Content-Type of a hijacked stream (API < 1.42
// uses it with and without a tty).
const rawStreamType = "application/vnd.docker.raw-stream"

// closeGrace bounds how long a finished stream waits for the client to
// close its side before the connection is closed anyway.
const closeGrace = 5 * time.Second

// hijacked is a connection taken over from net/http for attach and exec
// start: the process's input is read from in, its output written to
// conn.
type hijacked struct {
	conn net.Conn
	in   io.Reader // what net/http buffered, then the connection (not net/http's reader)
}

// hijack takes the connection over and writes the answer's head: Docker
// answers "101 UPGRADED" when the client asked for "Upgrade: tcp" (its
// CLI insists on 101) and a plain 200 otherwise. The request's body must
// have been read before: it is gone afterwards.
func hijack(w http.ResponseWriter, r *http.Request) (*hijacked, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("cannot take over the connection: %w", err)
	}
	status := http.StatusOK
	var head bytes.Buffer
	if _, upgrade := r.Header["Upgrade"]; upgrade {
		status = http.StatusSwitchingProtocols
		head.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: " + rawStreamType + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n")
	} else {
		head.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + rawStreamType + "\r\n")
	}
	// The headers set before the takeover (Server, Api-Version, Ostype).
	_ = w.Header().WriteSubset(&head, map[string]bool{"Content-Type": true, "Connection": true, "Upgrade": true, "Content-Length": true})
	head.WriteString("\r\n")
	if sw, ok := w.(*statusWriter); ok && sw.status == 0 {
		sw.status = status
	}
	if _, err := conn.Write(head.Bytes()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("writing the stream's header: %w", err)
	}
	return &hijacked{conn: conn, in: rawInput(conn, brw.Reader)}, nil
}

// rawInput reads what net/http had buffered, then the connection itself.
// Reading on through net/http's reader would cancel the request's context
// at the client's half-close (its EOF): the stream would end while the
// process still has output for the client.
func rawInput(conn net.Conn, buffered *bufio.Reader) io.Reader {
	n := buffered.Buffered()
	if n == 0 {
		return conn
	}
	head, _ := buffered.Peek(n)
	return io.MultiReader(bytes.NewReader(append([]byte(nil), head...)), conn)
}

// close ends the stream. It half-closes first, so that the client reads
// all of the output and then EOF, and closes fully once the client has
// closed its side too (or after closeGrace). Closing at once, with input
// still unread, would make the kernel reset the connection, and a reset
// can discard output the client has not read yet.
func (h *hijacked) close() {
	cw, ok := h.conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		h.conn.Close()
		return
	}
	go func() {
		// The connection itself, not h.in: a backend may still have a
		// reader on h.in, and a bufio.Reader is not for two goroutines.
		_ = h.conn.SetReadDeadline(time.Now().Add(closeGrace))
		_, _ = io.Copy(io.Discard, h.conn)
		h.conn.Close()
	}()
}
