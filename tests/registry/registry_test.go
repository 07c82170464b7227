// Package registry_test pulls and pushes real images against Debian's
// docker-registry, started by the tests on a loopback port, through a
// proxy that can break answers. It needs root (layers are unpacked with
// their owners) and /usr/bin/docker-registry.
package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/content"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/manager/layers"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/registry"
	"github.com/xrt-dev/xrt/manager/snapshots"
	"github.com/xrt-dev/xrt/tests/registry/regtest"
)

// stack is one manager's image storage in a private data root.
type stack struct {
	root string
	sn   snapshots.Snapshotter
	db   *metadata.DB
	cs   *content.Store
	ls   *layers.Store
	is   *images.Service
	reg  *registry.Registry
}

func newStack(t *testing.T, opts registry.Options) *stack {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: layers are unpacked with their owners")
	}
	return openStack(t, t.TempDir(), "overlay2", opts)
}

// newNativeStack is newStack on the copying driver (Docker's vfs).
func newNativeStack(t *testing.T, opts registry.Options) *stack {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: layers are unpacked with their owners")
	}
	return openStack(t, t.TempDir(), "native", opts)
}

// openStack opens (or reopens, as a restarted daemon does) the stores
// under root on the storage driver named.
func openStack(t *testing.T, root, driver string, opts registry.Options) *stack {
	t.Helper()
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs, err := content.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := snapshots.New(driver, filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	ls := layers.NewStore(db, cs, sn)
	is := images.New(db, cs, ls)
	if opts.ConfigDir == "" {
		opts.ConfigDir = filepath.Join(root, "docker-config")
	}
	return &stack{root: root, sn: sn, db: db, cs: cs, ls: ls, is: is, reg: registry.New(opts, cs, ls, is)}
}

// assertEmpty checks that a failed pull left nothing: no image, no blob,
// no layer, nothing in ingest/.
func (s *stack) assertEmpty(t *testing.T) {
	t.Helper()
	imgs, err := s.is.List(images.ListFilter{All: true})
	if err != nil || len(imgs) != 0 {
		t.Errorf("images after a failed pull: %d, %v", len(imgs), err)
	}
	var blobs []string
	s.cs.Walk(func(i content.Info) error { blobs = append(blobs, i.Digest.String()); return nil })
	if len(blobs) != 0 {
		t.Errorf("blobs left after a failed pull: %v", blobs)
	}
	var ls []*metadata.Layer
	s.db.View(context.Background(), func(tx *metadata.Tx) error { ls, err = tx.ListLayers(); return err })
	if len(ls) != 0 {
		t.Errorf("layers left after a failed pull: %d", len(ls))
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "content", "ingest")); len(ents) != 0 {
		t.Errorf("content/ingest not empty: %v", ents)
	}
}

func startRegistry(t *testing.T, opts regtest.Options) *regtest.Server {
	t.Helper()
	srv, err := regtest.Start("", opts)
	if errors.Is(err, regtest.ErrNoRegistry) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func startProxy(t *testing.T, upstream string) *regtest.Proxy {
	t.Helper()
	p, err := regtest.NewProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// testImage has three layers: a directory tree, random bytes (does not
// compress) and a file replaced by the top layer.
func testImage(t *testing.T, arch string) *regtest.Image {
	t.Helper()
	random := make([]byte, 3<<20)
	rand.Read(random)
	var ls []regtest.Layer
	for _, files := range [][]regtest.File{
		{{Name: "etc/"}, {Name: "etc/hostname", Body: []byte("m3\n")}, {Name: "bin/"}, {Name: "bin/tool", Body: []byte("#!/bin/sh\necho " + arch + "\n"), Mode: 0o755}},
		{{Name: "data/"}, {Name: "data/random", Body: random}},
		{{Name: "etc/hostname", Body: []byte("m3-top\n")}},
	} {
		tb, err := regtest.Tar(files)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, regtest.Gzip(tb))
	}
	img, err := regtest.NewImage(ls, arch, "/bin/tool")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func statuses(evs []progress.Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Current > 0 {
			continue
		}
		if e.ID != "" {
			b.WriteString(e.ID + ": ")
		}
		b.WriteString(e.Status + e.Error + "\n")
	}
	return b.String()
}

func TestPullSecondPullAndPush(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	px := startProxy(t, srv.Host)
	img := testImage(t, "amd64")
	up := &regtest.Client{Host: srv.Host}
	if err := up.Push("m3/app", "1", img); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, registry.Options{})
	ctx := context.Background()
	ref := px.Host + "/m3/app:1"

	var rec progress.Recorder
	got, err := s.reg.Pull(ctx, ref, &ocispec.Platform{OS: "linux", Architecture: "amd64"}, &rec)
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, statuses(rec.Events()))
	}
	if got.ID != img.ConfigDigest {
		t.Errorf("image ID %s, want the config digest %s", got.ID, img.ConfigDigest)
	}
	if want := []string{ref}; fmt.Sprint(got.RepoTags) != fmt.Sprint(want) {
		t.Errorf("RepoTags %v, want %v", got.RepoTags, want)
	}
	if want := px.Host + "/m3/app@" + img.ManifestDigest.String(); len(got.RepoDigests) != 1 || got.RepoDigests[0] != want {
		t.Errorf("RepoDigests %v, want %s", got.RepoDigests, want)
	}
	out := statuses(rec.Events())
	for _, want := range []string{"1: Pulling from m3/app", "Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete",
		"Digest: " + img.ManifestDigest.String(), "Status: Downloaded newer image for " + ref} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	// Every layer and its blob is held; the files are in the snapshots.
	for _, l := range img.Layers {
		if _, err := s.cs.Info(l.Digest); err != nil {
			t.Errorf("layer blob %s not kept: %v", l.Digest, err)
		}
	}
	chain := layers.ChainIDs([]digest.Digest{img.Layers[0].DiffID, img.Layers[1].DiffID, img.Layers[2].DiffID})
	for _, c := range chain {
		if _, err := s.ls.Get(c); err != nil {
			t.Errorf("layer %s: %v", c, err)
		}
	}
	if top, err := s.ls.Get(chain[2]); err == nil && top.Parent != chain[1] {
		t.Errorf("top layer's parent %s, want %s", top.Parent, chain[1])
	}

	// A second pull asks the registry for the manifest and nothing else.
	px.Requests()
	rec = progress.Recorder{}
	if _, err := s.reg.Pull(ctx, ref, nil, &rec); err != nil {
		t.Fatal(err)
	}
	if reqs := px.Requests(); len(reqs) != 1 || reqs[0] != "GET /v2/m3/app/manifests/1" {
		t.Errorf("second pull made requests %v, want one manifest GET", reqs)
	}
	if out := statuses(rec.Events()); out != "1: Pulling from m3/app\nDigest: "+img.ManifestDigest.String()+"\nStatus: Image is up to date for "+ref+"\n" {
		t.Errorf("second pull progress (want docker's three lines):\n%s", out)
	}
	// By digest, with the manifest held: no request at all, not even the
	// ping of a registry client that has not talked to it yet.
	fresh := registry.New(registry.Options{ConfigDir: filepath.Join(s.root, "docker-config")}, s.cs, s.ls, s.is)
	if _, err := fresh.Pull(ctx, px.Host+"/m3/app@"+img.ManifestDigest.String(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if reqs := px.Requests(); len(reqs) != 0 {
		t.Errorf("pull by a held digest made requests %v", reqs)
	}

	// Push under another name, then pull that into a fresh store.
	rec = progress.Recorder{}
	if err := s.is.Tag(ref, px.Host+"/m3/copy:2"); err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Push(ctx, px.Host+"/m3/copy:2", &rec); err != nil {
		t.Fatalf("push: %v\n%s", err, statuses(rec.Events()))
	}
	out = statuses(rec.Events())
	for _, want := range []string{"The push refers to repository [" + px.Host + "/m3/copy]", "Preparing", "Pushed",
		fmt.Sprintf("2: digest: %s size: %d", img.ManifestDigest, len(img.Manifest))} {
		if !strings.Contains(out, want) {
			t.Errorf("push progress lacks %q:\n%s", want, out)
		}
	}
	var aux []byte
	for _, e := range rec.Events() {
		if e.Aux != nil {
			aux = e.Aux
		}
	}
	if !bytes.Contains(aux, []byte(img.ManifestDigest.String())) {
		t.Errorf("push aux %s lacks the digest", aux)
	}
	// Pushing again finds every blob there.
	px.Requests()
	rec = progress.Recorder{}
	if err := s.reg.Push(ctx, px.Host+"/m3/copy:2", &rec); err != nil {
		t.Fatal(err)
	}
	if out := statuses(rec.Events()); strings.Count(out, "Layer already exists") != 3 || strings.Contains(out, "Pushed") {
		t.Errorf("second push:\n%s", out)
	}
	for _, r := range px.Requests() {
		if strings.HasPrefix(r, "POST") || (strings.HasPrefix(r, "PUT") && strings.Contains(r, "/blobs/")) {
			t.Errorf("second push uploaded: %s", r)
		}
	}
	s2 := newStack(t, registry.Options{})
	got2, err := s2.reg.Pull(ctx, srv.Host+"/m3/copy:2", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got2.ID != img.ConfigDigest {
		t.Errorf("pushed image pulls as %s, want %s", got2.ID, img.ConfigDigest)
	}

	if err := s.reg.Push(ctx, px.Host+"/m3/none:1", nil); !errdefs.IsNotFound(err) {
		t.Errorf("push of a missing image: %v", err)
	}
}

func TestPullIndexPlatform(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	up := &regtest.Client{Host: srv.Host}
	amd, arm := testImage(t, "amd64"), testImage(t, "arm64")
	for _, img := range []*regtest.Image{amd, arm} {
		if err := up.Push("m3/multi", img.ManifestDigest.String(), img); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := regtest.Index(map[string]*regtest.Image{"amd64": amd, "arm64": arm})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.PutManifest("m3/multi", "latest", ocispec.MediaTypeImageIndex, idx); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tt := range []struct {
		platform *ocispec.Platform
		want     digest.Digest
	}{
		{&ocispec.Platform{OS: "linux", Architecture: "arm64"}, arm.ConfigDigest},
		{&ocispec.Platform{OS: "linux", Architecture: "amd64"}, amd.ConfigDigest},
	} {
		s := newStack(t, registry.Options{})
		got, err := s.reg.Pull(ctx, srv.Host+"/m3/multi", tt.platform, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tt.want {
			t.Errorf("%s: pulled %s, want %s", tt.platform.Architecture, got.ID, tt.want)
		}
		// The repo digest is the index's, as docker records it.
		if want := srv.Host + "/m3/multi@" + digest.FromBytes(idx).String(); len(got.RepoDigests) != 1 || got.RepoDigests[0] != want {
			t.Errorf("RepoDigests %v, want %s", got.RepoDigests, want)
		}
	}
	// A single-platform image asked for as another platform.
	s := newStack(t, registry.Options{})
	if _, err := s.reg.Pull(ctx, srv.Host+"/m3/multi@"+arm.ManifestDigest.String(), &ocispec.Platform{OS: "linux", Architecture: "amd64"}, nil); !errdefs.IsNotFound(err) ||
		!strings.Contains(err.Error(), "does not match the specified platform: wanted linux/amd64, actual: linux/arm64") {
		t.Errorf("single-platform mismatch: %v", err)
	}
	s.assertEmpty(t)
	if _, err := s.reg.Pull(ctx, srv.Host+"/m3/multi", &ocispec.Platform{OS: "linux", Architecture: "s390x"}, nil); !errdefs.IsNotFound(err) ||
		!strings.Contains(err.Error(), "no matching manifest for linux/s390x") {
		t.Errorf("missing platform: %v", err)
	}
	s.assertEmpty(t)
}

func TestPullFaults(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host}).Push("m3/faults", "1", img); err != nil {
		t.Fatal(err)
	}
	big := img.Layers[1] // the random layer, 3 MiB
	// impostor is another well-formed layer of exactly the size of the
	// top one, so only the digest can tell them apart.
	var impostor []byte
	for c := 'a'; c <= 'z' && impostor == nil; c++ {
		other := regtest.Gzip(mustTar(t, []regtest.File{{Name: "etc/hostname", Body: []byte("m3-to" + string(c) + "\n")}}))
		if len(other.Blob) == len(img.Layers[2].Blob) && other.Digest != img.Layers[2].Digest {
			impostor = other.Blob
		}
	}
	if impostor == nil {
		t.Fatal("no same-size impostor layer")
	}
	isBlob := func(r *http.Request, d digest.Digest) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+d.String())
	}
	isManifest := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
	}
	tests := []struct {
		name  string
		ref   string
		fault regtest.Fault
		kind  func(error) bool
		msg   string
	}{
		{"corrupt gzip", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isBlob(r, big.Digest) {
				return false
			}
			b := bytes.Clone(big.Blob)
			b[len(b)/2] ^= 0xff
			regtest.Replace(w, up, b)
			return true
		}, nil, ""},
		{"digest mismatch, valid gzip", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isBlob(r, img.Layers[2].Digest) {
				return false
			}
			regtest.Replace(w, up, impostor)
			return true
		}, errdefs.IsInvalidArgument, "digest"},
		{"truncated blob", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isBlob(r, big.Digest) {
				return false
			}
			regtest.Replace(w, up, big.Blob[:len(big.Blob)/2])
			return true
		}, errdefs.IsInvalidArgument, "manifest says"},
		{"truncated blob, chunked", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isBlob(r, big.Digest) {
				return false
			}
			w.WriteHeader(http.StatusOK) // no length: chunked
			w.Write(big.Blob[:len(big.Blob)/2])
			return true
		}, nil, ""},
		{"registry goes away", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isBlob(r, big.Digest) {
				return false
			}
			// A third of the blob, then every retry is cut at once.
			n := int64(0)
			if r.Header.Get("Range") == "" {
				n = int64(len(big.Blob) / 3)
			}
			regtest.HangUp(w, up, n)
			return true
		}, errdefs.IsUnavailable, "reading from the registry"},
		{"malformed manifest", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isManifest(r) {
				return false
			}
			regtest.Replace(w, up, []byte(`{"schemaVersion":2,"config":`))
			return true
		}, errdefs.IsInvalidArgument, "malformed manifest"},
		{"manifest with no config", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isManifest(r) {
				return false
			}
			regtest.Replace(w, up, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`))
			return true
		}, errdefs.IsInvalidArgument, "no config"},
		{"corrupt config", "m3/faults:1", func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
			if !isBlob(r, img.ConfigDigest) {
				return false
			}
			b := bytes.Clone(img.Config)
			b[0] = ' '
			regtest.Replace(w, up, b)
			return true
		}, errdefs.IsInvalidArgument, "image config verification failed"},
		{"unknown tag", "m3/faults:nosuch", nil, errdefs.IsNotFound, "manifest for "},
		{"unknown repository", "m3/nosuch:1", nil, errdefs.IsNotFound, "not found"},
		{"registry down", "", nil, errdefs.IsUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px := startProxy(t, srv.Host)
			px.SetFault(tt.fault)
			ref := px.Host + "/" + tt.ref
			if tt.ref == "" {
				px.Close()
				ref = px.Host + "/m3/faults:1"
			}
			s := newStack(t, registry.Options{})
			var rec progress.Recorder
			_, err := s.reg.Pull(context.Background(), ref, nil, &rec)
			if err == nil {
				t.Fatalf("pull succeeded\n%s", statuses(rec.Events()))
			}
			t.Logf("error: %v", err)
			if tt.kind != nil && !tt.kind(err) {
				t.Errorf("error %v is not of the expected kind", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			// Failures before the manifest is resolved stream nothing, so
			// the API can answer with a plain HTTP error as dockerd.
			if evs := rec.Events(); tt.kind != nil && (errdefs.IsNotFound(err) || errdefs.IsUnavailable(err)) && strings.Contains(tt.name, "unknown") && len(evs) != 0 {
				t.Errorf("events before the manifest was resolved: %+v", evs)
			}
			if _, err := s.is.Resolve(ref); !errdefs.IsNotFound(err) {
				t.Errorf("the image is visible after a failed pull: %v", err)
			}
			s.assertEmpty(t)
		})
	}
}

func mustTar(t *testing.T, files []regtest.File) []byte {
	tb, err := regtest.Tar(files)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// htpasswdFile writes a bcrypt htpasswd line with Debian's htpasswd
// (apache2-utils), which docker-registry requires.
func htpasswdFile(t *testing.T, user, pass string) string {
	t.Helper()
	bin, err := exec.LookPath("htpasswd")
	if err != nil {
		t.Skip("htpasswd not installed (apt-get install apache2-utils)")
	}
	out, err := exec.Command(bin, "-nbB", user, pass).Output()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuth(t *testing.T) {
	srv := startRegistry(t, regtest.Options{Htpasswd: htpasswdFile(t, "m3user", "m3pass")})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host, User: "m3user", Pass: "m3pass"}).Push("m3/private", "1", img); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, registry.Options{})
	ctx := context.Background()
	ref := srv.Host + "/m3/private:1"

	_, err := s.reg.Pull(ctx, ref, nil, nil)
	if !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "pull access denied for "+srv.Host+"/m3/private") {
		t.Fatalf("anonymous pull: %v", err)
	}
	s.assertEmpty(t)
	if _, err := s.reg.Login(ctx, srv.Host, "m3user", "wrong"); !errdefs.IsUnauthorized(err) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "docker-config", "config.json")); err == nil {
		t.Errorf("a failed login wrote config.json")
	}
	if status, err := s.reg.Login(ctx, srv.Host, "m3user", "m3pass"); err != nil || status != "Login Succeeded" {
		t.Fatalf("login: %q, %v", status, err)
	}
	if _, err := s.reg.Pull(ctx, ref, nil, nil); err != nil {
		t.Fatalf("pull after login: %v", err)
	}
	if err := s.is.Tag(ref, srv.Host+"/m3/private:2"); err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Push(ctx, srv.Host+"/m3/private:2", nil); err != nil {
		t.Fatalf("push after login: %v", err)
	}
	// Credentials of the request (X-Registry-Auth) instead of the file.
	s2 := newStack(t, registry.Options{})
	if _, err := s2.reg.Pull(registry.WithAuth(ctx, registry.AuthConfig{Username: "m3user", Password: "m3pass"}), srv.Host+"/m3/private:2", nil, nil); err != nil {
		t.Fatalf("pull with request credentials: %v", err)
	}
	if err := s.reg.Logout(srv.Host); err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Push(ctx, srv.Host+"/m3/private:2", nil); !errdefs.IsUnauthorized(err) {
		t.Errorf("push after logout: %v", err)
	}
}

func TestPullSharedLayers(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	px := startProxy(t, srv.Host)
	base := testImage(t, "amd64")
	top := regtest.Gzip(mustTar(t, []regtest.File{{Name: "etc/motd", Body: []byte("second image\n")}}))
	second, err := regtest.NewImage([]regtest.Layer{base.Layers[0], base.Layers[1], top}, "amd64", "/bin/tool")
	if err != nil {
		t.Fatal(err)
	}
	up := &regtest.Client{Host: srv.Host}
	if err := up.Push("m3/base", "1", base); err != nil {
		t.Fatal(err)
	}
	if err := up.Push("m3/second", "1", second); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, registry.Options{})
	ctx := context.Background()
	if _, err := s.reg.Pull(ctx, px.Host+"/m3/base:1", nil, nil); err != nil {
		t.Fatal(err)
	}
	px.Requests()
	var rec progress.Recorder
	if _, err := s.reg.Pull(ctx, px.Host+"/m3/second:1", nil, &rec); err != nil {
		t.Fatal(err)
	}
	out := statuses(rec.Events())
	if strings.Count(out, "Already exists") != 2 || strings.Count(out, "Pull complete") != 1 {
		t.Errorf("progress:\n%s", out)
	}
	var blobs []string
	for _, r := range px.Requests() {
		if strings.Contains(r, "/blobs/") {
			blobs = append(blobs, r)
		}
	}
	// The config and the new top layer; the shared layers are not fetched.
	if want := []string{"GET /v2/m3/second/blobs/" + second.ConfigDigest.String(), "GET /v2/m3/second/blobs/" + top.Digest.String()}; fmt.Sprint(blobs) != fmt.Sprint(want) {
		t.Errorf("blob requests %v, want %v", blobs, want)
	}
}

// childEnv makes the test binary a process that only pulls (for the
// kill -9 test): "<data root>|<reference>".
const childEnv = "M3_REGISTRY_TEST_PULL"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		root, ref, _ := strings.Cut(v, "|")
		os.Exit(childPull(root, ref))
	}
	os.Exit(m.Run())
}

func childPull(root, ref string) int {
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cs, err := content.Open(filepath.Join(root, "content"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sn, err := snapshots.New("overlay2", filepath.Join(root, "snapshots"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ls := layers.NewStore(db, cs, sn)
	is := images.New(db, cs, ls)
	r := registry.New(registry.Options{ConfigDir: filepath.Join(root, "docker-config")}, cs, ls, is)
	if _, err := r.Pull(context.Background(), ref, nil, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKillMidPull kills a pulling process with SIGKILL while one layer is
// half downloaded (the registry stalls it) and others are done, then
// reopens the stores as a restarted daemon does (content.Open,
// layers.Cleanup, images GC): nothing of the pull is left.
func TestKillMidPull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: layers are unpacked with their owners")
	}
	srv := startRegistry(t, regtest.Options{})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host}).Push("m3/kill", "1", img); err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, srv.Host)
	big := img.Layers[1]
	stalled := make(chan struct{}, 1)
	px.SetFault(func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+big.Digest.String()) {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(big.Blob)))
		w.WriteHeader(http.StatusOK)
		w.Write(big.Blob[:len(big.Blob)/2])
		w.(http.Flusher).Flush()
		select {
		case stalled <- struct{}{}:
		default:
		}
		<-r.Context().Done() // until the client dies
		return true
	})
	root := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+root+"|"+px.Host+"/m3/kill:1")
	var stderr bytes.Buffer
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	select {
	case <-stalled:
	case err := <-exited:
		t.Fatalf("the pull ended before it could be killed: %v: %s", err, stderr.String())
	}
	// The other layers finish while the big one stalls; wait until one is
	// recorded, so the kill leaves both a half blob and whole layers.
	db, err := metadata.Open(filepath.Join(root, "xmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		var n []*metadata.Layer
		db.View(context.Background(), func(tx *metadata.Tx) error { n, err = tx.ListLayers(); return err })
		if len(n) > 0 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the pull ended: %v: %s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	db.Close()
	child.Process.Kill()
	<-exited
	if ents, _ := os.ReadDir(filepath.Join(root, "content", "ingest")); len(ents) == 0 {
		t.Log("note: no half-written blob in ingest/ at the kill")
	}

	s := openStack(t, root, "overlay2", registry.Options{})
	ctx := context.Background()
	if err := s.ls.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.is.GC(ctx); err != nil {
		t.Fatal(err)
	}
	s.assertEmpty(t)
	var snaps []string
	s.sn.Walk(func(i snapshots.Info) error { snaps = append(snaps, i.Key); return nil })
	if len(snaps) != 0 {
		t.Errorf("snapshots left after restart: %v", snaps)
	}
	// And the image pulls cleanly afterwards.
	px.SetFault(nil)
	if _, err := s.reg.Pull(ctx, px.Host+"/m3/kill:1", nil, nil); err != nil {
		t.Fatalf("pull after the restart: %v", err)
	}
}

// TestPullDockerSchema2 pulls what `docker push` writes: a Docker
// manifest list over Docker schema 2 manifests; then pushes it back and
// checks the registry got the same manifest (same digest).
func TestPullDockerSchema2(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	up := &regtest.Client{Host: srv.Host}
	oci := testImage(t, "amd64")
	img, err := oci.AsDocker()
	if err != nil {
		t.Fatal(err)
	}
	if err := up.PushAs("m3/docker", img.ManifestDigest.String(), regtest.DockerManifest, img); err != nil {
		t.Fatal(err)
	}
	list := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
		regtest.DockerList, regtest.DockerManifest, img.ManifestDigest, len(img.Manifest))
	if err := up.PutManifest("m3/docker", "1", regtest.DockerList, []byte(list)); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, registry.Options{})
	ctx := context.Background()
	got, err := s.reg.Pull(ctx, srv.Host+"/m3/docker:1", &ocispec.Platform{OS: "linux", Architecture: "amd64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != img.ConfigDigest || got.Manifest != img.ManifestDigest || got.ManifestMediaType != regtest.DockerManifest {
		t.Errorf("pulled %s manifest %s (%s), want %s manifest %s (docker)", got.ID, got.Manifest, got.ManifestMediaType, img.ConfigDigest, img.ManifestDigest)
	}
	if err := s.is.Tag(srv.Host+"/m3/docker:1", srv.Host+"/m3/docker-copy:1"); err != nil {
		t.Fatal(err)
	}
	var rec progress.Recorder
	if err := s.reg.Push(ctx, srv.Host+"/m3/docker-copy:1", &rec); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Host+"/v2/m3/docker-copy/manifests/1", nil)
	req.Header.Set("Accept", regtest.DockerManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Docker-Content-Digest") != img.ManifestDigest.String() || resp.Header.Get("Content-Type") != regtest.DockerManifest {
		t.Errorf("pushed manifest: %s (%s), want %s (docker)", resp.Header.Get("Docker-Content-Digest"), resp.Header.Get("Content-Type"), img.ManifestDigest)
	}
}

// TestPullResumes cuts the connection in the middle of a layer once: the
// pull picks up where it broke off with a Range request, as Docker retries.
func TestPullResumes(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host}).Push("m3/resume", "1", img); err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, srv.Host)
	big := img.Layers[1]
	var once sync.Once
	px.SetFault(func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+big.Digest.String()) {
			return false
		}
		cut := false
		once.Do(func() { cut = true })
		if cut {
			regtest.HangUp(w, up, int64(len(big.Blob)/3))
		}
		return cut
	})
	s := newStack(t, registry.Options{})
	var rec progress.Recorder
	got, err := s.reg.Pull(context.Background(), px.Host+"/m3/resume:1", nil, &rec)
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, statuses(rec.Events()))
	}
	if got.ID != img.ConfigDigest {
		t.Errorf("pulled %s, want %s", got.ID, img.ConfigDigest)
	}
	n := 0
	for _, r := range px.Requests() {
		if strings.HasSuffix(r, big.Digest.String()) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d requests for the cut blob, want 2 (the cut one and the resumed one)", n)
	}
	if out := statuses(rec.Events()); !strings.Contains(out, "Retrying (1 of 3)") {
		t.Errorf("no retry in the progress:\n%s", out)
	}
}

// TestConcurrentPulls runs two pulls of one image at once into one store:
// both succeed and every layer blob crosses the network once.
func TestConcurrentPulls(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host}).Push("m3/twice", "1", img); err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, srv.Host)
	s := newStack(t, registry.Options{})
	ref := px.Host + "/m3/twice:1"
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.reg.Pull(context.Background(), ref, nil, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
	fetched := map[string]int{}
	for _, r := range px.Requests() {
		if strings.HasPrefix(r, "GET ") && strings.Contains(r, "/blobs/") {
			fetched[r]++
		}
	}
	for _, l := range img.Layers {
		if n := fetched["GET /v2/m3/twice/blobs/"+l.Digest.String()]; n != 1 {
			t.Errorf("layer %s fetched %d times, want once", l.Digest, n)
		}
	}
	if got, err := s.is.Resolve(ref); err != nil || got.ID != img.ConfigDigest {
		t.Errorf("after two pulls: %v, %v", got, err)
	}
}

// TestPullNative pulls onto the copying driver, where each layer starts
// as a copy of its parent, with one and with several transfers at once.
func TestPullNative(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host}).Push("m3/native", "1", img); err != nil {
		t.Fatal(err)
	}
	for _, parallel := range []int{1, 3} {
		s := newNativeStack(t, registry.Options{Parallel: parallel})
		if name := snapshots.Name(s.sn); name != snapshots.DriverNative {
			t.Fatalf("driver %s, want native", name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		got, err := s.reg.Pull(ctx, srv.Host+"/m3/native:1", nil, nil)
		cancel()
		if err != nil {
			t.Fatalf("parallel %d: %v", parallel, err)
		}
		if got.ID != img.ConfigDigest {
			t.Errorf("parallel %d: pulled %s, want %s", parallel, got.ID, img.ConfigDigest)
		}
	}
}

// TestPullRegistrySilent: the registry stops sending in the middle of a
// layer and never answers again, without closing the connection (a
// vanished host). The pull gives up after the stall timeout and its
// retries, with nothing left behind.
func TestPullRegistrySilent(t *testing.T) {
	srv := startRegistry(t, regtest.Options{})
	img := testImage(t, "amd64")
	if err := (&regtest.Client{Host: srv.Host}).Push("m3/silent", "1", img); err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, srv.Host)
	big := img.Layers[1]
	px.SetFault(func(w http.ResponseWriter, r *http.Request, up *http.Response) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+big.Digest.String()) {
			return false
		}
		for k, v := range up.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(up.StatusCode)
		if r.Header.Get("Range") == "" {
			w.Write(big.Blob[:len(big.Blob)/3])
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	})
	s := newStack(t, registry.Options{StallTimeout: 300 * time.Millisecond})
	var rec progress.Recorder
	_, err := s.reg.Pull(context.Background(), px.Host+"/m3/silent:1", nil, &rec)
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "stopped sending") {
		t.Fatalf("err = %v, want unavailable: stopped sending\n%s", err, statuses(rec.Events()))
	}
	if out := statuses(rec.Events()); !strings.Contains(out, "Retrying (3 of 3)") {
		t.Errorf("progress:\n%s", out)
	}
	s.assertEmpty(t)
}
