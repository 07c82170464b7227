package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/reference"
)

func TestMediaType(t *testing.T) {
	tests := []struct {
		name, body, header, want, err string
	}{
		{"oci manifest field", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}`, "", ocispec.MediaTypeImageManifest, ""},
		{"docker list by header", `{"schemaVersion":2,"manifests":[]}`, mediaDockerList + "; charset=utf-8", mediaDockerList, ""},
		{"oci index by shape", `{"schemaVersion":2,"manifests":[]}`, "application/json", ocispec.MediaTypeImageIndex, ""},
		{"manifest by shape", `{"schemaVersion":2,"config":{},"layers":[]}`, "", ocispec.MediaTypeImageManifest, ""},
		{"schema1", `{"schemaVersion":1,"fsLayers":[]}`, mediaSchema1, "", "schema 1"},
		{"not json", `<html>`, "", "", "malformed manifest"},
		{"truncated", `{"schemaVersion":2,"config":`, "", "", "malformed manifest"},
		{"unknown shape", `{"schemaVersion":2}`, "", "", "neither an image manifest nor an index"},
		{"wrong version", `{"schemaVersion":3,"mediaType":"application/vnd.oci.image.index.v1+json"}`, "", "", "schemaVersion 3"},
		{"foreign type", `{"schemaVersion":2,"mediaType":"application/vnd.example+json"}`, "", "", "unsupported manifest media type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mediaType([]byte(tt.body), tt.header)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want invalid argument with %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("mediaType = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSelectPlatform(t *testing.T) {
	index := `{"schemaVersion":2,"manifests":[
	 {"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","platform":{"os":"linux","architecture":"amd64"}},
	 {"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"os":"linux","architecture":"arm","variant":"v6"}},
	 {"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
	 {"digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
	 {"digest":"sha256:5555555555555555555555555555555555555555555555555555555555555555","platform":{"os":"windows","architecture":"amd64"}},
	 {"digest":"sha256:6666666666666666666666666666666666666666666666666666666666666666"}]}`
	tests := []struct{ platform, want, err string }{
		{"linux/amd64", "1", ""},
		{"linux/x86_64", "1", ""},
		{"linux/arm/v7", "3", ""},
		{"linux/arm/v6", "2", ""},
		{"linux/arm/v8", "3", ""}, // newest compatible older variant
		{"linux/arm64", "4", ""},
		{"linux/aarch64/v8", "4", ""},
		{"windows/amd64", "5", ""},
		{"linux/s390x", "", "no matching manifest for linux/s390x"},
		{"linux/arm/v5", "", "no matching manifest for linux/arm/v5"},
	}
	for _, tt := range tests {
		t.Run(tt.platform, func(t *testing.T) {
			p, err := ParsePlatform(tt.platform)
			if err != nil {
				t.Fatal(err)
			}
			d, err := selectPlatform([]byte(index), p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsNotFound(err) {
					t.Fatalf("err = %v, want not found %q", err, tt.err)
				}
				return
			}
			if err != nil || d.Digest.Encoded()[:1] != tt.want {
				t.Fatalf("got %s, %v; want entry %s", d.Digest, err, tt.want)
			}
		})
	}
	if _, err := selectPlatform([]byte(`{"manifests":`), nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("malformed index: err = %v", err)
	}
	for _, bad := range []string{"/amd64", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParsePlatform(%q): err = %v", bad, err)
		}
	}
}

func TestCheckManifest(t *testing.T) {
	const d = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	tests := []struct{ name, json, err string }{
		{"ok", `{"config":{"digest":"` + d + `"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"` + d + `","size":3}]}`, ""},
		{"zstd", `{"config":{"digest":"` + d + `"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"` + d + `","size":3}]}`, ""},
		{"no config", `{"layers":[]}`, "no config"},
		{"bad config digest", `{"config":{"digest":"sha256:xyz"}}`, "config digest"},
		{"bad layer digest", `{"config":{"digest":"` + d + `"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"md5:00"}]}`, "layer 1 digest"},
		{"negative size", `{"config":{"digest":"` + d + `"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + d + `","size":-1}]}`, "size -1"},
		{"foreign", `{"config":{"digest":"` + d + `"},"layers":[{"mediaType":"` + mediaDockerForeign + `","digest":"` + d + `"}]}`, "foreign layer"},
		{"odd type", `{"config":{"digest":"` + d + `"},"layers":[{"mediaType":"text/plain","digest":"` + d + `"}]}`, "unsupported media type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m ocispec.Manifest
			if err := json.Unmarshal([]byte(tt.json), &m); err != nil {
				t.Fatal(err)
			}
			err := checkManifest(&m)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

// basicRegistry is the part of a registry login talks to: /v2/ behind
// basic auth.
func basicRegistry(user, pass string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("{}"))
	}))
}

func TestLoginLogout(t *testing.T) {
	srv := basicRegistry("alice", "s3cret")
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	// Other settings in config.json survive a login and a logout.
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"psFormat":"table {{.ID}}","auths":{"other.io":{"auth":"eDp5"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(Options{ConfigDir: dir}, nil, nil, nil)
	ctx := context.Background()

	if _, err := r.Login(ctx, host, "alice", "wrong"); !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: err = %v, want unauthorized with the status", err)
	}
	if _, err := r.Login(ctx, host, "", ""); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("no user: err = %v", err)
	}
	status, err := r.Login(ctx, "http://"+host+"/", "alice", "s3cret")
	if err != nil || status != "Login Succeeded" {
		t.Fatalf("Login = %q, %v", status, err)
	}
	path := filepath.Join(dir, "config.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config.json: %v, mode %v; want 0600", err, fi.Mode())
	}
	var cf struct {
		PsFormat string                       `json:"psFormat"`
		Auths    map[string]map[string]string `json:"auths"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	if got := cf.Auths[host]["auth"]; got != base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) {
		t.Errorf("auths[%s].auth = %q (config %s)", host, got, b)
	}
	if cf.PsFormat == "" || cf.Auths["other.io"]["auth"] != "eDp5" {
		t.Errorf("login lost other settings: %s", b)
	}
	got, err := r.credentials(ctx, host)
	if err != nil || got.Username != "alice" || got.Password != "s3cret" {
		t.Errorf("credentials = %+v, %v", got, err)
	}
	// Request credentials win over the file.
	got, _ = r.credentials(WithAuth(ctx, AuthConfig{Username: "bob", Password: "x"}), host)
	if got.Username != "bob" {
		t.Errorf("WithAuth ignored: %+v", got)
	}

	if err := r.Logout(host); err != nil {
		t.Fatal(err)
	}
	if err := r.Logout(host); !errdefs.IsNotFound(err) {
		t.Errorf("second logout: err = %v, want not found", err)
	}
	b, _ = os.ReadFile(path)
	if strings.Contains(string(b), host) || !strings.Contains(string(b), "other.io") {
		t.Errorf("after logout: %s", b)
	}
	if got, _ := r.credentials(ctx, host); got.Username != "" {
		t.Errorf("credentials after logout: %+v", got)
	}
}

func TestLoginUnreachable(t *testing.T) {
	srv := basicRegistry("a", "b")
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	r := New(Options{ConfigDir: t.TempDir()}, nil, nil, nil)
	if _, err := r.Login(context.Background(), host, "a", "b"); !errdefs.IsUnavailable(err) {
		t.Fatalf("err = %v, want unavailable", err)
	}
}

func TestBadConfigFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths": [1]}`), 0o600)
	r := New(Options{ConfigDir: dir}, nil, nil, nil)
	if _, err := r.credentials(context.Background(), "x.io"); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("err = %v, want an invalid config.json error", err)
	}
}

func TestUploadURL(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:5000/v2/app/blobs/uploads/", nil)
	for _, tt := range []struct{ loc, want string }{
		{"/v2/app/blobs/uploads/abc?_state=x", "http://127.0.0.1:5000/v2/app/blobs/uploads/abc?_state=x&digest=sha256%3A11"},
		{"http://other:1/up/1", "http://other:1/up/1?digest=sha256%3A11"},
	} {
		resp := &http.Response{Header: http.Header{"Location": {tt.loc}}, Request: req}
		got, err := uploadURL(resp, "sha256:11")
		if err != nil || got != tt.want {
			t.Errorf("uploadURL(%q) = %q, %v; want %q", tt.loc, got, err, tt.want)
		}
	}
	if _, err := uploadURL(&http.Response{Header: http.Header{}, Request: req}, "sha256:11"); err == nil {
		t.Error("no Location: no error")
	}
}

// tokenRegistry answers like Docker Hub: /v2/ wants a bearer token, which
// /token hands out for the right basic credentials (or anonymously with
// pull scope only when anonymous is true).
func tokenRegistry(t *testing.T, user, pass string, anonymous bool) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			u, p, ok := r.BasicAuth()
			switch {
			case ok && u == user && p == pass:
				w.Write([]byte(`{"token":"good-token"}`))
			case !ok && anonymous:
				w.Write([]byte(`{"token":"anon-token"}`))
			default:
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`))
			}
		case r.Header.Get("Authorization") == "Bearer good-token",
			r.Header.Get("Authorization") == "Bearer anon-token" && r.URL.Path != "/v2/":
			if strings.Contains(r.URL.Path, "/manifests/") {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
				return
			}
			w.Write([]byte("{}"))
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoginToken(t *testing.T) {
	srv := tokenRegistry(t, "alice", "s3cret", false)
	host := strings.TrimPrefix(srv.URL, "http://")
	r := New(Options{ConfigDir: t.TempDir()}, nil, nil, nil)
	ctx := context.Background()
	if _, err := r.Login(ctx, host, "alice", "bad"); !errdefs.IsUnauthorized(err) {
		t.Fatalf("bad password: %v", err)
	}
	if s, err := r.Login(ctx, host, "alice", "s3cret"); err != nil || s != "Login Succeeded" {
		t.Fatalf("login: %q, %v", s, err)
	}
}

func TestTokenAuthForPull(t *testing.T) {
	srv := tokenRegistry(t, "alice", "s3cret", true)
	host := strings.TrimPrefix(srv.URL, "http://")
	r := New(Options{ConfigDir: t.TempDir()}, nil, nil, nil)
	ctx := context.Background()
	n, err := reference.Parse(host + "/app:1")
	if err != nil {
		t.Fatal(err)
	}
	// Anonymous token: the registry is reached and says the tag is unknown.
	rc, err := r.repo(ctx, n, "pull")
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = rc.manifest(ctx, "1")
	if err := classify(err, "manifest"); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "manifest unknown: manifest unknown") {
		t.Fatalf("manifest with an anonymous token: %v", err)
	}
	// The same client is reused for the same repository and credentials.
	if again, _ := r.repo(ctx, n, "pull"); again != rc {
		t.Error("the transport was not cached")
	}
	// Wrong credentials from the request fail the token fetch.
	if _, err := r.repo(WithAuth(ctx, AuthConfig{Username: "alice", Password: "no"}), n, "pull"); !errdefs.IsUnauthorized(err) {
		t.Fatalf("bad request credentials: %v", err)
	}
}

func TestInsecure(t *testing.T) {
	r := New(Options{Insecure: []string{"myreg:5000", "http://other.io/", "10.1.0.0/16", "plainhost"}}, nil, nil, nil)
	for host, want := range map[string]bool{
		"myreg:5000": true, "myreg:5001": false, "other.io": true, "10.1.2.3:443": true, "10.2.0.1": false,
		"plainhost:8080": true, "quay.io": false,
	} {
		if got := r.insecure(host); got != want {
			t.Errorf("insecure(%q) = %v, want %v", host, got, want)
		}
	}
	if r.transportFor("quay.io") != r.base || r.transportFor("myreg:5000") == r.base {
		t.Error("transportFor: TLS verification is skipped for the wrong hosts")
	}
}

// cuttingServer serves blob at /v2/x/blobs/<digest>; the first request is
// cut after a third; later ones honour Range unless ignoreRange.
func cuttingServer(t *testing.T, blob []byte, ignoreRange bool) *httptest.Server {
	var mu sync.Mutex
	first := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cut := first
		first = false
		mu.Unlock()
		if cut {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(blob))
			buf.Write(blob[:len(blob)/3])
			buf.Flush()
			conn.Close()
			return
		}
		if ignoreRange {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, "blob", time.Time{}, bytes.NewReader(blob))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestResumingBlob(t *testing.T) {
	blob := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	d := digest.FromBytes(blob)
	for _, ignore := range []bool{false, true} {
		srv := cuttingServer(t, blob, ignore)
		rc := &repoClient{client: srv.Client(), base: srv.URL + "/v2/x"}
		ctx := context.Background()
		first, _, err := rc.blob(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		var retries []int
		b := rc.resumingBlob(ctx, d, first, time.Minute, func(n int, err error) { retries = append(retries, n) })
		got, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatalf("ignoreRange=%v: %v", ignore, err)
		}
		if !bytes.Equal(got, blob) {
			t.Errorf("ignoreRange=%v: got %d bytes, digest %s; want %s", ignore, len(got), digest.FromBytes(got), d)
		}
		if len(retries) != 1 {
			t.Errorf("ignoreRange=%v: retries %v, want one", ignore, retries)
		}
	}
}

// fakeHelper installs docker-credential-m3test, a credential helper that
// keeps secrets as files in a temp dir, first on PATH.
func fakeHelper(t *testing.T) (store string) {
	bin, store := t.TempDir(), t.TempDir()
	script := `#!/bin/sh
d=` + store + `
name() { echo "$1" | tr '/:' '__'; }
case "$1" in
get) read -r s; f="$d/$(name "$s")"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) cat > "$d/in"; s=$(sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p' "$d/in"); mv "$d/in" "$d/$(name "$s")" ;;
erase) read -r s; rm -f "$d/$(name "$s")" ;;
*) exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-m3test"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	return store
}

func TestCredentialHelper(t *testing.T) {
	store := fakeHelper(t)
	srv := basicRegistry("alice", "s3cret")
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credsStore":"m3test"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(Options{ConfigDir: dir}, nil, nil, nil)
	ctx := context.Background()
	if _, err := r.Login(ctx, host, "alice", "s3cret"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))) {
		t.Errorf("the secret went into config.json with a helper configured: %s", b)
	}
	if !strings.Contains(string(b), `"`+host+`": {}`) {
		t.Errorf("config.json lacks the empty auths entry docker writes: %s", b)
	}
	if ents, _ := os.ReadDir(store); len(ents) != 1 {
		t.Errorf("the helper holds %d entries, want 1", len(ents))
	}
	got, err := r.credentials(ctx, host)
	if err != nil || got.Username != "alice" || got.Password != "s3cret" {
		t.Fatalf("credentials from the helper = %+v, %v", got, err)
	}
	if err := r.Logout(host); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(store); len(ents) != 0 {
		t.Errorf("logout left %d helper entries", len(ents))
	}
	if got, err := r.credentials(ctx, host); err != nil || got.Username != "" {
		t.Errorf("credentials after logout = %+v, %v", got, err)
	}
	if err := r.Logout(host); !errdefs.IsNotFound(err) {
		t.Errorf("second logout: %v", err)
	}
	// A per-registry helper that is not installed is a clear error.
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credHelpers":{"`+host+`":"nosuch"}}`), 0o600)
	if _, err := r.credentials(ctx, host); !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "docker-credential-nosuch") {
		t.Errorf("missing helper: %v", err)
	}
}

func TestResumingBlobStall(t *testing.T) {
	blob := bytes.Repeat([]byte("stall"), 100<<10)
	d := digest.FromBytes(blob)
	var mu sync.Mutex
	first := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		stall := first
		first = false
		mu.Unlock()
		if stall {
			// Headers and a third, then silence with the connection open.
			w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
			w.Write(blob[:len(blob)/3])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		http.ServeContent(w, r, "blob", time.Time{}, bytes.NewReader(blob))
	}))
	defer srv.Close()
	rc := &repoClient{client: srv.Client(), base: srv.URL + "/v2/x"}
	ctx := context.Background()
	body, _, err := rc.blob(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	b := rc.resumingBlob(ctx, d, body, 200*time.Millisecond, func(_ int, err error) { errs = append(errs, err) })
	got, err := io.ReadAll(b)
	b.Close()
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("read %d bytes, %v; want the whole blob", len(got), err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], errStalled) {
		t.Errorf("retries for %v, want one for the stall", errs)
	}
}
