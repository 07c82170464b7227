package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// HijackedResponse is a connection taken over from HTTP after an attach
// or exec start: the process's output is read from Reader (stdcopy frames
// without a tty, raw bytes with one) and its input written to Conn.
type HijackedResponse struct {
	Conn   net.Conn
	Reader *bufio.Reader
}

// Close closes the connection.
func (h HijackedResponse) Close() error { return h.Conn.Close() }

// CloseWrite half-closes the connection: the daemon sees the end of stdin
// while the output keeps coming.
func (h HijackedResponse) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// AttachOptions are POST /containers/{name}/attach's parameters.
type AttachOptions struct {
	Stream     bool // live output (and input)
	Logs       bool // first replay the log
	Stdin      bool
	Stdout     bool
	Stderr     bool
	DetachKeys string // "" is the daemon's default (ctrl-p,ctrl-q)
}

// ContainerAttach is POST /containers/{name}/attach, upgraded to a raw
// connection.
func (c *Client) ContainerAttach(ctx context.Context, name string, opts AttachOptions) (HijackedResponse, error) {
	q := url.Values{}
	boolQuery(q, "stream", opts.Stream)
	boolQuery(q, "logs", opts.Logs)
	boolQuery(q, "stdin", opts.Stdin)
	boolQuery(q, "stdout", opts.Stdout)
	boolQuery(q, "stderr", opts.Stderr)
	if opts.DetachKeys != "" {
		q.Set("detachKeys", opts.DetachKeys)
	}
	return c.hijack(ctx, request{method: http.MethodPost, path: containerPath(name, "/attach"), query: q, ctype: "text/plain"})
}

// dial opens a new connection to the daemon, as the HTTP transport does.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var conn net.Conn
	var err error
	if tr, ok := c.http.Transport.(*http.Transport); ok && tr.DialContext != nil {
		conn, err = tr.DialContext(ctx, "tcp", "")
	} else {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err = d.DialContext(ctx, "tcp", strings.TrimPrefix(c.base, "http://"))
	}
	if err != nil {
		return nil, &connError{fmt.Errorf("cannot connect to the xmgr daemon at %s: %w", c.host, err)}
	}
	return conn, nil
}

// hijack sends rq asking for the connection to be upgraded (Docker's
// "Upgrade: tcp") and returns the connection once the daemon agreed (101,
// or 200 from daemons that do not say so). An error answer is an *Error,
// as from do. ctx bounds the handshake only.
func (c *Client) hijack(ctx context.Context, rq request) (HijackedResponse, error) {
	u := c.base + "/v" + c.version + rq.path
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	req, err := http.NewRequest(rq.method, u, rq.body)
	if err != nil {
		return HijackedResponse{}, err
	}
	if rq.ctype != "" {
		req.Header.Set("Content-Type", rq.ctype)
	}
	for k, v := range rq.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "xmgr-client/"+types.APIVersion)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")

	conn, err := c.dial(ctx)
	if err != nil {
		return HijackedResponse{}, err
	}
	// A cancelled ctx during the handshake unblocks the reads below.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	_, br, err := handshake(conn, req)
	if !stop() {
		conn.Close()
		return HijackedResponse{}, ctx.Err()
	}
	if err != nil {
		conn.Close()
		return HijackedResponse{}, err
	}
	return HijackedResponse{Conn: conn, Reader: br}, nil
}

// handshake writes req on conn and reads the answer's header.
func handshake(conn net.Conn, req *http.Request) (*http.Response, *bufio.Reader, error) {
	if err := req.Write(conn); err != nil {
		return nil, nil, fmt.Errorf("%s %s: sending the request: %w", req.Method, req.URL.Path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols, resp.StatusCode == http.StatusOK:
		return resp, br, nil
	case resp.StatusCode >= 400:
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		msg := strings.TrimSpace(string(b))
		var er types.ErrorResponse
		if json.Unmarshal(b, &er) == nil && er.Message != "" {
			msg = er.Message
		}
		if msg == "" {
			msg = resp.Status
		}
		return nil, nil, &Error{Status: resp.StatusCode, Message: msg}
	default:
		resp.Body.Close()
		return nil, nil, fmt.Errorf("%s %s: the daemon answered %s instead of upgrading the connection", req.Method, req.URL.Path, resp.Status)
	}
}
