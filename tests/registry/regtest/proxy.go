package regtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// Fault rewrites one upstream answer. It returns false to pass the
// answer through unchanged; when it returns true it has written the
// response to w itself (or cut the connection).
type Fault func(w http.ResponseWriter, r *http.Request, upstream *http.Response) bool

// Proxy stands between a client and a registry on its own loopback port,
// logs the requests it forwards, and lets a test break answers: corrupt
// or truncate a blob, replace a manifest, hang up mid-transfer.
type Proxy struct {
	Host string
	srv  *http.Server
	ln   net.Listener
	up   string

	mu    sync.Mutex
	fault Fault
	log   []string
}

// NewProxy starts a proxy for the registry at upstream (host:port).
func NewProxy(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Host: ln.Addr().String(), ln: ln, up: upstream}
	p.srv = &http.Server{Handler: p}
	go p.srv.Serve(ln)
	return p, nil
}

// SetFault installs f (nil: pass everything through).
func (p *Proxy) SetFault(f Fault) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Requests returns "METHOD /path" of every request since the last call.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.log
	p.log = nil
	return l
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

var upstreamClient = &http.Client{
	Transport: &http.Transport{DisableCompression: true},
	// Redirects go back to the client, as a registry's would.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.log = append(p.log, r.Method+" "+r.URL.Path)
	f := p.fault
	p.mu.Unlock()
	u := *r.URL
	u.Scheme, u.Host = "http", p.up
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	req.ContentLength = r.ContentLength
	resp, err := upstreamClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if f != nil && f(w, r, resp) {
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// Replace answers with body instead of upstream's, with upstream's
// headers (except the length) and status.
func Replace(w http.ResponseWriter, upstream *http.Response, body []byte) {
	for k, v := range upstream.Header {
		if k != "Content-Length" && k != "Docker-Content-Digest" {
			w.Header()[k] = v
		}
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(upstream.StatusCode)
	w.Write(body)
}

// HangUp sends upstream's status line and headers (its full length
// included) and the first n bytes of its body, then closes the
// connection: a registry that goes away mid-transfer.
func HangUp(w http.ResponseWriter, upstream *http.Response, n int64) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("regtest: response writer cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %s\r\n", upstream.Status)
	upstream.Header.Write(bw)
	if upstream.ContentLength >= 0 && upstream.Header.Get("Content-Length") == "" {
		fmt.Fprintf(bw, "Content-Length: %d\r\n", upstream.ContentLength)
	}
	bw.WriteString("\r\n")
	io.CopyN(bw, upstream.Body, n)
	bw.Flush()
	_ = buf
}
