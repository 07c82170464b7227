package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/reference"
)

// configFile is the name of Docker's client configuration in ConfigDir.
const configFile = "config.json"

func defaultConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".docker")
}

// AuthConfig is Docker's credential record: the body of POST /auth, the
// decoded X-Registry-Auth header, and an entry of config.json's "auths".
type AuthConfig struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	Email         string `json:"email,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

type authKey struct{}

// WithAuth makes pulls and pushes under ctx use a instead of config.json:
// the API passes the credentials a client sent (X-Registry-Auth) this way.
func WithAuth(ctx context.Context, a AuthConfig) context.Context {
	return context.WithValue(ctx, authKey{}, a)
}

// credentials finds the credentials for a registry domain: those of the
// request (WithAuth) first, then config.json's "auths" entry whose key
// normalizes to the same server (keys may be "host", "https://host/v1/"...).
func (r *Registry) credentials(ctx context.Context, domain string) (authn.AuthConfig, error) {
	if a, ok := ctx.Value(authKey{}).(AuthConfig); ok && (a.Username != "" || a.Auth != "" || a.IdentityToken != "" || a.RegistryToken != "") {
		return toAuthn(a), nil
	}
	cf, err := r.loadConfig()
	if err != nil {
		return authn.AuthConfig{}, err
	}
	want := reference.IndexServer(domain)
	h, err := cf.helperFor(want)
	if err != nil {
		return authn.AuthConfig{}, err
	}
	if h != "" {
		a, found, err := helperGet(ctx, h, want)
		if err != nil {
			return authn.AuthConfig{}, err
		}
		if found {
			return toAuthn(a), nil
		}
	}
	for key, raw := range cf.auths {
		if reference.IndexServer(key) != want {
			continue
		}
		var a AuthConfig
		if err := json.Unmarshal(raw, &a); err != nil {
			return authn.AuthConfig{}, errdefs.Invalid("%s: auths[%q]: %v", cf.path, key, err)
		}
		return toAuthn(a), nil
	}
	return authn.AuthConfig{}, nil
}

func toAuthn(a AuthConfig) authn.AuthConfig {
	c := authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	if c.Username == "" && a.Auth != "" {
		// Decode here so a malformed value shows up as no credentials
		// for basic auth instead of a garbage header.
		if b, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			if u, p, ok := strings.Cut(string(b), ":"); ok {
				c.Username, c.Password = u, p
			}
		}
	}
	return c
}

// dockerConfig is config.json, kept as raw fields so that writing our
// change back leaves everything else (credsStore, proxies, the CLI's
// settings) as it was.
type dockerConfig struct {
	path   string
	fields map[string]json.RawMessage
	auths  map[string]json.RawMessage
}

func (r *Registry) loadConfig() (*dockerConfig, error) {
	cf := &dockerConfig{path: filepath.Join(r.opts.ConfigDir, configFile), fields: map[string]json.RawMessage{}, auths: map[string]json.RawMessage{}}
	b, err := os.ReadFile(cf.path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", cf.path, err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return cf, nil
	}
	if err := json.Unmarshal(b, &cf.fields); err != nil {
		return nil, errdefs.Invalid("%s: %v", cf.path, err)
	}
	if raw, ok := cf.fields["auths"]; ok {
		if err := json.Unmarshal(raw, &cf.auths); err != nil {
			return nil, errdefs.Invalid("%s: auths: %v", cf.path, err)
		}
		if cf.auths == nil {
			cf.auths = map[string]json.RawMessage{}
		}
	}
	return cf, nil
}

// save writes config.json atomically with mode 0600, as docker login.
func (cf *dockerConfig) save() error {
	auths, err := json.Marshal(cf.auths)
	if err != nil {
		return err
	}
	cf.fields["auths"] = auths
	b, err := json.MarshalIndent(cf.fields, "", "\t")
	if err != nil {
		return err
	}
	dir := filepath.Dir(cf.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".config.json-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", cf.path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err == nil {
		_, err = f.Write(append(b, '\n'))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), cf.path)
		}
		if err == nil {
			return nil
		}
	} else {
		f.Close()
	}
	return fmt.Errorf("writing %s: %w", cf.path, err)
}

// Login checks user and password with the registry at server ("" or
// docker.io means Docker Hub) the way docker login does — a token fetch
// with the credentials for a token registry, an authenticated GET /v2/
// for a basic-auth one — and on success stores them in config.json as
// base64 "user:password" under the server's key, or hands them to the
// credential helper config.json names (credHelpers, credsStore). It
// returns Docker's status, "Login Succeeded".
func (r *Registry) Login(ctx context.Context, server, user, password string) (string, error) {
	key := reference.IndexServer(server)
	domain := key
	if strings.HasPrefix(key, "https://") { // Docker Hub
		domain = reference.DefaultDomain
	}
	if user == "" || password == "" {
		return "", errdefs.Invalid("login to %s: username and password are required", key)
	}
	reg, err := r.registryName(domain)
	if err != nil {
		return "", err
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	tr, err := transport.NewWithContext(ctx, reg, auth, r.transportFor(domain), nil)
	if err != nil {
		return "", classify(err, "login to "+key)
	}
	// The handshake already checked a token server's verdict; a basic
	// registry only says so on a request.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", classify(err, "login to "+key)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("login attempt to %s failed with status: %s: %w", req.URL, resp.Status, errdefs.ErrUnauthorized)
	case resp.StatusCode != http.StatusOK:
		return "", errdefs.Unavailable("login attempt to %s failed with status: %s", req.URL, resp.Status)
	}
	cf, err := r.loadConfig()
	if err != nil {
		return "", err
	}
	for k := range cf.auths { // one entry per server, whatever its spelling
		if reference.IndexServer(k) == key {
			delete(cf.auths, k)
		}
	}
	h, err := cf.helperFor(key)
	if err != nil {
		return "", err
	}
	if h != "" {
		// The helper keeps the secret; auths keeps an empty entry, as
		// docker login writes it.
		if err := helperStore(ctx, h, key, user, password); err != nil {
			return "", err
		}
		cf.auths[key] = json.RawMessage("{}")
	} else {
		entry, _ := json.Marshal(AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))})
		cf.auths[key] = entry
	}
	if err := cf.save(); err != nil {
		return "", err
	}
	r.forget()
	return "Login Succeeded", nil
}

// Logout removes the credentials for server from config.json (and from
// its credential helper, if one is configured). It returns an
// errdefs.ErrNotFound error when there were none ("Not logged in").
func (r *Registry) Logout(server string) error {
	key := reference.IndexServer(server)
	cf, err := r.loadConfig()
	if err != nil {
		return err
	}
	found := false
	for k := range cf.auths {
		if reference.IndexServer(k) == key {
			delete(cf.auths, k)
			found = true
		}
	}
	h, err := cf.helperFor(key)
	if err != nil {
		return err
	}
	if h != "" {
		if _, had, err := helperGet(context.Background(), h, key); err == nil && had {
			if err := helperErase(context.Background(), h, key); err != nil {
				return err
			}
			found = true
		}
	}
	if !found {
		return errdefs.NotFound("not logged in to %s", key)
	}
	if err := cf.save(); err != nil {
		return err
	}
	r.forget()
	return nil
}
