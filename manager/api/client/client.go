// Package client is a typed client of xmgr's API (the Docker Engine API
// v1.41) over a unix socket or TCP. The xmgr CLI and the tests use it; it
// negotiates the version with /_ping as Docker's client does and turns
// error answers back into errors of errdefs' kinds.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// DefaultHost is where xmgr's daemon listens unless told otherwise.
const DefaultHost = "unix:///run/xmgr/xmgr.sock"

// Client talks to one daemon.
type Client struct {
	host    string
	base    string // scheme://authority for URLs
	http    *http.Client
	version string
}

// New makes a client for host: unix:///path, tcp://host:port or
// http://host:port. The version used is ours (1.41) until Negotiate.
func New(host string) (*Client, error) {
	if host == "" {
		host = DefaultHost
	}
	proto, addr, ok := strings.Cut(host, "://")
	if !ok {
		return nil, errdefs.Invalid("host %q: want unix:///path or tcp://host:port", host)
	}
	// Big buffers: a build context or a load is megabytes through one
	// socket, and 4 KiB writes cost a syscall and a wake-up each.
	tr := &http.Transport{MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second, DisableCompression: true,
		WriteBufferSize: 256 << 10, ReadBufferSize: 64 << 10}
	c := &Client{host: host, version: types.APIVersion, http: &http.Client{Transport: tr}}
	switch proto {
	case "unix":
		if addr == "" {
			return nil, errdefs.Invalid("host %q: empty socket path", host)
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		}
		c.base = "http://xmgr"
	case "tcp", "http":
		c.base = "http://" + addr
	default:
		return nil, errdefs.Invalid("host %q: unsupported protocol %q", host, proto)
	}
	return c, nil
}

// Host is the address the client talks to.
func (c *Client) Host() string { return c.host }

// Version is the API version the client uses.
func (c *Client) Version() string { return c.version }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Error is an error answer from the daemon; Unwrap gives its errdefs kind.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusBadRequest:
		return errdefs.ErrInvalidArgument
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusUnauthorized:
		return errdefs.ErrUnauthorized
	case http.StatusServiceUnavailable:
		return errdefs.ErrUnavailable
	}
	return nil
}

// IsConnectionError reports whether err means no daemon answered.
func IsConnectionError(err error) bool {
	var ce *connError
	return errors.As(err, &ce)
}

type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// request is one API call.
type request struct {
	method  string
	path    string // without the version prefix
	query   url.Values
	body    io.Reader
	ctype   string
	headers map[string]string
}

func (c *Client) do(ctx context.Context, rq request) (*http.Response, error) {
	u := c.base + "/v" + c.version + rq.path
	if rq.path == "/_ping" {
		u = c.base + rq.path
	}
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u, rq.body)
	if err != nil {
		return nil, err
	}
	if rq.ctype != "" {
		req.Header.Set("Content-Type", rq.ctype)
	}
	for k, v := range rq.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "xmgr-client/"+types.APIVersion)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &connError{fmt.Errorf("cannot connect to the xmgr daemon at %s: %w", c.host, err)}
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var er types.ErrorResponse
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &er) == nil && er.Message != "" {
			msg = er.Message
		}
		if msg == "" {
			msg = resp.Status
		}
		return nil, &Error{Status: resp.StatusCode, Message: msg}
	}
	return resp, nil
}

// getJSON makes a request and decodes a JSON answer into v (if not nil).
func (c *Client) getJSON(ctx context.Context, rq request, v any) error {
	resp, err := c.do(ctx, rq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if v == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", rq.method, rq.path, err)
	}
	return nil
}

func jsonBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}
