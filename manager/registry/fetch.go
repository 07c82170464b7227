package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Media types of Docker's schema 2, which registries still serve for most
// images beside the OCI ones.
const (
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mediaDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaDockerForeign  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mediaSchema1        = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaSchema1Plain   = "application/vnd.docker.distribution.manifest.v1+json"
)

// maxManifestSize bounds manifests and configs read into memory, as
// Docker's 4 MiB manifest limit (configs get a little more room).
const (
	maxManifestSize = 4 << 20
	maxConfigSize   = 8 << 20
)

// acceptManifests is what a pull asks for, in order of preference.
var acceptManifests = strings.Join([]string{
	ocispec.MediaTypeImageIndex, mediaDockerList,
	ocispec.MediaTypeImageManifest, mediaDockerManifest,
}, ", ")

func isIndex(mt string) bool { return mt == ocispec.MediaTypeImageIndex || mt == mediaDockerList }
func isManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaDockerManifest
}

// do sends a request and checks its status; on a failure status it
// returns go-containerregistry's structured error (the registry's error
// codes and messages).
func (rc *repoClient) do(ctx context.Context, method, url string, body io.Reader, hdr http.Header, ok ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := rc.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, ok...); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// manifest fetches the manifest or index that ref (a tag or a digest)
// names and returns its bytes, media type and digest. A digest reference
// is verified against the bytes.
func (rc *repoClient) manifest(ctx context.Context, ref string) ([]byte, string, digest.Digest, error) {
	resp, err := rc.do(ctx, http.MethodGet, rc.base+"/manifests/"+ref, nil,
		http.Header{"Accept": {acceptManifests}}, http.StatusOK)
	if err != nil {
		return nil, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, "", "", fmt.Errorf("reading manifest %s: %w", ref, err)
	}
	if len(b) > maxManifestSize {
		return nil, "", "", errdefs.Invalid("manifest %s is larger than %d bytes", ref, maxManifestSize)
	}
	d := digest.FromBytes(b)
	if want, err := digest.Parse(ref); err == nil {
		if want.Algorithm() != d.Algorithm() {
			d = want.Algorithm().FromBytes(b)
		}
		if d != want {
			return nil, "", "", errdefs.Invalid("manifest verification failed for digest %s: the registry sent %s", want, d)
		}
	}
	mt, err := mediaType(b, resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, "", "", err
	}
	return b, mt, d, nil
}

// mediaType decides what a manifest is: its own mediaType field first,
// then the Content-Type header, then its shape. Schema 1 is refused as
// Docker 20.10 deprecated it.
func mediaType(b []byte, header string) (string, error) {
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
		Layers        json.RawMessage `json:"layers"`
		FSLayers      json.RawMessage `json:"fsLayers"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", errdefs.Invalid("malformed manifest: %v", err)
	}
	if i := strings.IndexByte(header, ';'); i >= 0 {
		header = header[:i]
	}
	header = strings.TrimSpace(header)
	mt := probe.MediaType
	if mt == "" && (isIndex(header) || isManifest(header)) {
		mt = header
	}
	if mt == "" {
		switch {
		case probe.Manifests != nil:
			mt = ocispec.MediaTypeImageIndex
		case probe.Config != nil && probe.Layers != nil:
			mt = ocispec.MediaTypeImageManifest
		}
	}
	switch {
	case mt == mediaSchema1 || mt == mediaSchema1Plain || probe.SchemaVersion == 1 || probe.FSLayers != nil:
		return "", errdefs.Invalid("image manifest schema 1 is not supported; push the image again with a current client")
	case isIndex(mt), isManifest(mt):
		if probe.SchemaVersion != 2 {
			return "", errdefs.Invalid("malformed manifest: schemaVersion %d, want 2", probe.SchemaVersion)
		}
		return mt, nil
	case mt == "":
		return "", errdefs.Invalid("malformed manifest: neither an image manifest nor an index")
	}
	return "", errdefs.Invalid("unsupported manifest media type %q", mt)
}

// blob opens a blob for reading. The caller verifies the digest.
func (rc *repoClient) blob(ctx context.Context, d digest.Digest) (*blobBody, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	resp, err := rc.do(ctx, http.MethodGet, rc.base+"/blobs/"+d.String(), nil, nil, http.StatusOK)
	if err != nil {
		cancel()
		return nil, 0, err
	}
	return &blobBody{ReadCloser: resp.Body, cancel: cancel}, resp.ContentLength, nil
}

// blobBody is a response body with the context of its request, so that
// a read blocked on a silent connection can be aborted (closing the body
// would wait for that read).
type blobBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *blobBody) Close() error {
	b.cancel()
	return b.ReadCloser.Close()
}

// blobExists asks the registry whether it holds d (HEAD), for push.
func (rc *repoClient) blobExists(ctx context.Context, d digest.Digest) (bool, error) {
	resp, err := rc.do(ctx, http.MethodHead, rc.base+"/blobs/"+d.String(), nil, nil, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// Resuming a blob after a dropped connection, as Docker retries a layer
// download: a few attempts with a growing pause, each asking for the rest
// of the blob with a Range request, so the stream the layer store reads
// simply continues.
const (
	resumeAttempts = 3
	resumeBackoff  = 200 * time.Millisecond
)

// resumingBlob reads blob d from the registry, reconnecting where the
// transfer broke off. retrying is told of each attempt.
type resumingBlob struct {
	ctx      context.Context
	rc       *repoClient
	d        digest.Digest
	body     *blobBody
	off      int64 // bytes delivered so far
	pending  error // an error that came with data, reported on the next Read
	attempts int
	retrying func(attempt int, err error)
	// stall is how long a read may wait for data before the connection
	// counts as dead (a registry that vanished without closing it).
	stall time.Duration
}

// errStalled is the error of a transfer that stopped sending.
var errStalled = errors.New("the registry stopped sending")

func (rc *repoClient) resumingBlob(ctx context.Context, d digest.Digest, body *blobBody, stall time.Duration, retrying func(int, error)) *resumingBlob {
	return &resumingBlob{ctx: ctx, rc: rc, d: d, body: body, stall: stall, retrying: retrying}
}

// readBody is one read of the current body, given up after b.stall
// without data: cancelling its request ends the blocked read.
func (b *resumingBlob) readBody(p []byte) (int, error) {
	if b.stall <= 0 {
		return b.body.Read(p)
	}
	body := b.body
	var stalled atomic.Bool
	t := time.AfterFunc(b.stall, func() { stalled.Store(true); body.cancel() })
	n, err := body.Read(p)
	t.Stop()
	if err != nil && stalled.Load() {
		err = fmt.Errorf("%w for %v", errStalled, b.stall)
	}
	return n, err
}

func (b *resumingBlob) Read(p []byte) (int, error) {
	var n int
	var err error
	if b.pending != nil {
		err, b.pending = b.pending, nil
	} else {
		n, err = b.readBody(p)
		b.off += int64(n)
	}
	if err == nil || err == io.EOF {
		return n, err
	}
	if n > 0 {
		b.pending = err
		return n, nil
	}
	// The transfer broke: reconnect from b.off while attempts remain;
	// the error returned at the end is the last one met.
	for {
		if b.attempts >= resumeAttempts || b.ctx.Err() != nil {
			return 0, err
		}
		b.attempts++
		if b.retrying != nil {
			b.retrying(b.attempts, err)
		}
		select {
		case <-time.After(resumeBackoff * time.Duration(b.attempts)):
		case <-b.ctx.Done():
			return 0, err
		}
		body, rerr := b.rc.blobFrom(b.ctx, b.d, b.off)
		if rerr != nil {
			err = fmt.Errorf("resuming at byte %d: %w", b.off, rerr)
			continue
		}
		b.body.Close()
		b.body = body
		return b.Read(p)
	}
}

func (b *resumingBlob) Close() error { return b.body.Close() }

// blobFrom fetches blob d from byte off on. A registry that ignores the
// Range header sends the whole blob; the bytes already had are skipped.
func (rc *repoClient) blobFrom(ctx context.Context, d digest.Digest, off int64) (*blobBody, error) {
	ctx, cancel := context.WithCancel(ctx)
	resp, err := rc.do(ctx, http.MethodGet, rc.base+"/blobs/"+d.String(), nil,
		http.Header{"Range": {fmt.Sprintf("bytes=%d-", off)}}, http.StatusOK, http.StatusPartialContent)
	if err != nil {
		cancel()
		return nil, err
	}
	body := &blobBody{ReadCloser: resp.Body, cancel: cancel}
	if resp.StatusCode == http.StatusPartialContent {
		var start int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != off {
			body.Close()
			return nil, fmt.Errorf("the registry resumed at %q, not at byte %d", resp.Header.Get("Content-Range"), off)
		}
		return body, nil
	}
	if _, err := io.CopyN(io.Discard, body, off); err != nil {
		body.Close()
		return nil, err
	}
	return body, nil
}
