package regtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one entry of a test layer.
type File struct {
	Name string
	Body []byte
	Mode int64 // 0: 0644 (0755 for directories, Name ending in "/")
}

// Layer is a compressed layer blob and its digests.
type Layer struct {
	Blob   []byte
	Digest digest.Digest // of Blob
	DiffID digest.Digest // of the uncompressed tar
}

// Tar builds an uncompressed layer tar of files, in order.
func Tar(files []File) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mtime := time.Unix(1700000000, 0)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, ModTime: mtime, Format: tar.FormatPAX}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.Body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Gzip compresses a layer tar (default level, as docker push does).
func Gzip(tarball []byte) Layer {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(tarball)
	zw.Close()
	return Layer{Blob: b.Bytes(), Digest: digest.FromBytes(b.Bytes()), DiffID: digest.FromBytes(tarball)}
}

// Image is a test image: its layers, config and manifest.
type Image struct {
	Layers         []Layer
	Config         []byte
	ConfigDigest   digest.Digest
	Manifest       []byte
	ManifestDigest digest.Digest
}

// NewImage assembles an OCI image of layers for os/arch, running cmd.
func NewImage(layers []Layer, arch string, cmd ...string) (*Image, error) {
	created := time.Unix(1700000000, 0).UTC()
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		Config:   ocispec.ImageConfig{Cmd: cmd, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: l.Digest, Size: int64(len(l.Blob))})
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &Image{Layers: layers, Config: cb, ConfigDigest: digest.FromBytes(cb), Manifest: mb, ManifestDigest: digest.FromBytes(mb)}, nil
}

// Index wraps manifests of several platforms into an OCI index.
func Index(imgs map[string]*Image) ([]byte, error) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for arch, img := range imgs {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest, Digest: img.ManifestDigest, Size: int64(len(img.Manifest)),
			Platform: &ocispec.Platform{OS: "linux", Architecture: arch},
		})
	}
	return json.Marshal(idx)
}

// Client uploads to a registry with plain distribution-API requests.
type Client struct {
	Host       string // 127.0.0.1:PORT
	User, Pass string // basic auth, if any
	HTTP       *http.Client
}

func (c *Client) do(method, u string, body io.Reader, size int64, ctype string, want int) (*http.Response, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Pass)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(b))
	}
	return resp, nil
}

// PutBlob uploads one blob (monolithic: POST then PUT).
func (c *Client) PutBlob(repo string, b []byte) error {
	resp, err := c.do(http.MethodPost, "http://"+c.Host+"/v2/"+repo+"/blobs/uploads/", nil, 0, "", http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", digest.FromBytes(b).String())
	loc.RawQuery = q.Encode()
	resp, err = c.do(http.MethodPut, (&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path, RawQuery: loc.RawQuery}).String(),
		bytes.NewReader(b), int64(len(b)), "application/octet-stream", http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// PutManifest uploads a manifest or index under ref (a tag or digest).
func (c *Client) PutManifest(repo, ref, mediaType string, b []byte) error {
	resp, err := c.do(http.MethodPut, "http://"+c.Host+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(b), int64(len(b)), mediaType, http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Push uploads img's blobs and its manifest under tag.
func (c *Client) Push(repo, tag string, img *Image) error {
	for _, l := range img.Layers {
		if err := c.PutBlob(repo, l.Blob); err != nil {
			return err
		}
	}
	if err := c.PutBlob(repo, img.Config); err != nil {
		return err
	}
	return c.PutManifest(repo, tag, ocispec.MediaTypeImageManifest, img.Manifest)
}

// Docker schema 2 media types, as `docker push` writes them.
const (
	DockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	DockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig   = "application/vnd.docker.container.image.v1+json"
	dockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// AsDocker returns img with a Docker schema 2 manifest instead of an OCI
// one (same layers and config, so the same image ID).
func (img *Image) AsDocker() (*Image, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(img.Manifest, &m); err != nil {
		return nil, err
	}
	m.MediaType = DockerManifest
	m.Config.MediaType = dockerConfig
	for i := range m.Layers {
		m.Layers[i].MediaType = dockerLayer
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := *img
	out.Manifest, out.ManifestDigest = mb, digest.FromBytes(mb)
	return &out, nil
}

// PushAs uploads img's blobs and its manifest under tag with the given
// manifest media type.
func (c *Client) PushAs(repo, tag, mediaType string, img *Image) error {
	for _, l := range img.Layers {
		if err := c.PutBlob(repo, l.Blob); err != nil {
			return err
		}
	}
	if err := c.PutBlob(repo, img.Config); err != nil {
		return err
	}
	return c.PutManifest(repo, tag, mediaType, img.Manifest)
}
