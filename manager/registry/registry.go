// Package registry pulls images from and pushes them to registries that
// speak the OCI distribution protocol (Docker Hub, docker-registry, quay,
// ...). go-containerregistry provides only the transport: the ping, the
// token or basic auth handshake and the scheme choice. Requests, storage
// and unpacking are ours: manifests and configs go into the content
// store, and each layer blob is streamed once from the network into both
// the content store and the layer store (decompress and untar while it
// downloads), with its digest checked on the way.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/reference"
)

// DefaultParallel is how many layers a pull fetches at once, and a push
// sends at once, when Options.Parallel is 0. Docker uses 3 for pulls.
const DefaultParallel = 3

// userAgent starts the User-Agent header of every request (the transport
// adds its own version after it).
const userAgent = "xmgr"

// maxCachedRepos bounds the cache of authenticated repository clients.
const maxCachedRepos = 256

// Options configure a Registry.
type Options struct {
	// Insecure lists registries (host or host:port) reached over plain
	// HTTP (or HTTPS without verifying the certificate), as dockerd's
	// --insecure-registry. localhost, 127.0.0.0/8, ::1 and private
	// networks are always allowed plain HTTP.
	Insecure []string
	// ConfigDir holds config.json with the credentials (Docker's format);
	// "" means $DOCKER_CONFIG or ~/.docker.
	ConfigDir string
	// Parallel is the number of layers transferred at once (0: DefaultParallel).
	Parallel int
	// StallTimeout is how long a layer download may go without a byte
	// before its connection counts as dead and the download resumes on
	// a new one (0: DefaultStallTimeout; negative: wait forever).
	StallTimeout time.Duration
}

// DefaultStallTimeout: a registry that sends nothing for this long is
// treated as gone (TCP alone may not notice a vanished peer for hours).
const DefaultStallTimeout = time.Minute

// Registry pulls and pushes images. Its methods are safe for concurrent use.
type Registry struct {
	opts Options
	cs   *content.Store
	ls   *layers.Store
	is   *images.Service
	base http.RoundTripper
	// insecureBase is base without certificate verification, for the
	// registries configured insecure.
	insecureBase http.RoundTripper

	// repos caches one authenticated transport per repository, scope and
	// credentials, so that a second pull makes one request (the
	// manifest) instead of a ping, a token fetch and the manifest.
	mu    sync.Mutex
	repos map[string]*repoClient

	// blobs serializes transfers of one blob across concurrent pulls.
	blobs keyedLock
}

// New returns a Registry that stores what it pulls in cs, ls and is.
func New(opts Options, cs *content.Store, ls *layers.Store, is *images.Service) *Registry {
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.ConfigDir == "" {
		opts.ConfigDir = defaultConfigDir()
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * opts.Parallel
	t.ResponseHeaderTimeout = 2 * time.Minute
	// Bigger socket buffers: the default 4 KiB means many small reads
	// for a 100 MB layer.
	t.ReadBufferSize = 256 << 10
	t.WriteBufferSize = 256 << 10
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	it := t.Clone()
	it.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with --insecure-registry
	// Registries log who calls them: say so, as docker sends "docker/VERSION".
	return &Registry{opts: opts, cs: cs, ls: ls, is: is,
		base:         transport.NewUserAgent(t, userAgent),
		insecureBase: transport.NewUserAgent(it, userAgent),
		repos:        map[string]*repoClient{}}
}

// repoClient talks to one repository with one set of credentials.
type repoClient struct {
	named  reference.Named
	reg    name.Registry
	client *http.Client
	base   string // https://host/v2/<path>  (the transport picks the scheme)
}

// insecure reports whether host (host[:port]) was configured insecure:
// by name, with or without the port, or by a CIDR that holds its
// address, as dockerd's --insecure-registry.
func (r *Registry) insecure(host string) bool {
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	ip := net.ParseIP(strings.Trim(hostname, "[]"))
	for _, e := range r.opts.Insecure {
		e = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"), "/")
		if strings.EqualFold(e, host) || strings.EqualFold(e, hostname) {
			return true
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil && ip != nil && cidr.Contains(ip) {
			return true
		}
	}
	return false
}

// transportFor is the HTTP transport for a registry: an insecure one may
// present a certificate we cannot verify (Docker skips the check then).
func (r *Registry) transportFor(domain string) http.RoundTripper {
	if !r.insecure(domain) {
		return r.base
	}
	return r.insecureBase
}

// registryName is go-containerregistry's name for a domain, insecure when
// configured so (its own heuristics already cover loopback and private
// addresses).
func (r *Registry) registryName(domain string) (name.Registry, error) {
	var opts []name.Option
	if r.insecure(domain) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(domain, opts...)
	if err != nil {
		return name.Registry{}, errdefs.Invalid("registry %q: %v", domain, err)
	}
	return reg, nil
}

// repo returns the client for n's repository with the given scope
// actions ("pull" or "push,pull"), pinging and authenticating once per
// repository and credentials.
func (r *Registry) repo(ctx context.Context, n reference.Named, actions string) (*repoClient, error) {
	reg, err := r.registryName(n.Domain)
	if err != nil {
		return nil, err
	}
	cfg, err := r.credentials(ctx, n.Domain)
	if err != nil {
		return nil, err
	}
	key := strings.Join([]string{n.Domain, n.Path, actions, cfg.Username, cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken}, "\x00")
	r.mu.Lock()
	rc := r.repos[key]
	r.mu.Unlock()
	if rc != nil {
		return rc, nil
	}
	auth := authn.Anonymous
	if cfg != (authn.AuthConfig{}) {
		auth = authn.FromConfig(cfg)
	}
	scope := reg.Repo(n.Path).Scope(actions)
	tr, err := transport.NewWithContext(ctx, reg, auth, r.transportFor(n.Domain), []string{scope})
	if err != nil {
		return nil, classify(err, fmt.Sprintf("%s %s", verb(actions), n.Name()))
	}
	rc = &repoClient{
		named:  n,
		reg:    reg,
		client: &http.Client{Transport: tr},
		base:   "https://" + reg.RegistryStr() + "/v2/" + n.Path,
	}
	r.mu.Lock()
	if len(r.repos) >= maxCachedRepos {
		// A daemon that talks to many repositories starts over rather
		// than keep every token forever.
		r.repos = map[string]*repoClient{}
	}
	r.repos[key] = rc
	r.mu.Unlock()
	return rc, nil
}

func verb(actions string) string {
	if strings.Contains(actions, "push") {
		return "push to"
	}
	return "pull from"
}

// forget drops cached transports (after a login or logout changes the
// credentials, or when a token stopped working).
func (r *Registry) forget() {
	r.mu.Lock()
	r.repos = map[string]*repoClient{}
	r.mu.Unlock()
}

// classify turns a transport or protocol error into an errdefs kind with
// what was being done: 401/403 are unauthorized, 404 not found, network
// failures and 5xx unavailable.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		msg := registryMessage(te)
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: %s: %w", what, msg, errdefs.ErrUnauthorized)
		case http.StatusNotFound:
			return errdefs.NotFound("%s: %s", what, msg)
		case http.StatusBadRequest:
			return errdefs.Invalid("%s: %s", what, msg)
		}
		return errdefs.Unavailable("%s: %s", what, msg)
	}
	if k := kindOf(err); k != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return errdefs.Unavailable("%s: %v", what, err)
}

// registryMessage words a registry's error answer as Docker does: each
// error's code in words and its message ("manifest unknown: manifest
// unknown"), or the status when the body had none.
func registryMessage(te *transport.Error) string {
	var parts []string
	for _, d := range te.Errors {
		code := strings.ToLower(strings.ReplaceAll(string(d.Code), "_", " "))
		if d.Message != "" && !strings.EqualFold(d.Message, code) {
			parts = append(parts, code+": "+d.Message)
		} else {
			parts = append(parts, code+": "+code)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, "; ")
	}
	if te.Request != nil {
		return fmt.Sprintf("unexpected status from %s request to %s: %d %s", te.Request.Method, te.Request.URL.Redacted(), te.StatusCode, http.StatusText(te.StatusCode))
	}
	return fmt.Sprintf("unexpected status %d %s", te.StatusCode, http.StatusText(te.StatusCode))
}

// kindOf returns err's errdefs kind, or nil.
func kindOf(err error) error {
	for _, k := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrUnauthorized,
		errdefs.ErrUnavailable, errdefs.ErrConflict, errdefs.ErrAlreadyExists} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// hostPlatform is the platform pulled when none is asked for.
func hostPlatform() (os, arch, variant string) {
	os, arch = "linux", runtime.GOARCH
	if arch == "arm" {
		variant = "v7"
	}
	return os, arch, variant
}
