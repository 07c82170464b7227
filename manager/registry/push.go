package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/reference"
)

// Push sends the local image that ref names ("latest" by default) to its
// registry: each layer blob and the config from the content store
// (skipping those the registry has, asked with HEAD), then the manifest
// under the tag. The progress stream is docker push's: "Preparing",
// "Pushing" with byte counts, "Pushed" or "Layer already exists", then
// "<tag>: digest: sha256:... size: N" and an aux {Tag, Digest, Size}.
// Errors are returned, not streamed (see Pull).
func (r *Registry) Push(ctx context.Context, ref string, p progress.Sink) error {
	if p == nil {
		p = progress.Discard
	}
	return r.push(ctx, ref, p)
}

func (r *Registry) push(ctx context.Context, ref string, p progress.Sink) error {
	n, err := reference.Parse(ref)
	if err != nil {
		return err
	}
	if n.Digest != "" {
		return errdefs.Invalid("cannot push a digest reference: %s", ref)
	}
	img, err := r.is.Resolve(n.String())
	if err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.NotFound("An image does not exist locally with the tag: %s", n.FamiliarName())
		}
		return err
	}
	// The image is kept alive while its blobs are read.
	release := r.is.Lease()
	defer release()
	if img.Manifest == "" {
		return errdefs.NotFound("image %s has no manifest in the content store", n.Familiar())
	}
	mb, err := r.cs.ReadAll(img.Manifest, maxManifestSize)
	if err != nil {
		return fmt.Errorf("image %s: manifest %s: %w", n.Familiar(), img.Manifest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return errdefs.Invalid("image %s: malformed manifest %s: %v", n.Familiar(), img.Manifest, err)
	}
	mt := img.ManifestMediaType
	if mt == "" {
		if mt = m.MediaType; mt == "" {
			mt = ocispec.MediaTypeImageManifest
		}
	}
	for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if _, err := r.cs.Info(l.Digest); err != nil {
			return fmt.Errorf("image %s: blob %s is not in the content store (only pulled, loaded or imported images keep their layer blobs): %w", n.Familiar(), l.Digest, err)
		}
	}

	p.Send(progress.Message("The push refers to repository [" + n.Name() + "]"))
	rc, err := r.repo(ctx, n, "push,pull")
	if err != nil {
		return err
	}
	// Docker names layers by diff ID in a push; fall back to the blob.
	ids := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		ids[i] = shortID(l.Digest)
		if i < len(img.DiffIDs) {
			ids[i] = shortID(img.DiffIDs[i])
		}
	}
	// Docker lists the layers top first.
	for i := len(m.Layers) - 1; i >= 0; i-- {
		p.Send(progress.Update(ids[i], "Preparing"))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Parallel)
	for i := len(m.Layers) - 1; i >= 0; i-- {
		l, id := m.Layers[i], ids[i]
		g.Go(func() error {
			return r.pushBlob(gctx, rc, l, id, p)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := r.pushBlob(ctx, rc, m.Config, "", progress.Discard); err != nil {
		return err
	}

	resp, err := rc.do(ctx, http.MethodPut, rc.base+"/manifests/"+n.Tag, bytes.NewReader(mb),
		http.Header{"Content-Type": {mt}}, http.StatusCreated, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return classify(err, "pushing manifest for "+n.Familiar())
	}
	resp.Body.Close()
	p.Send(progress.Message(fmt.Sprintf("%s: digest: %s size: %d", n.Tag, img.Manifest, len(mb))))
	aux, _ := json.Marshal(struct {
		Tag    string
		Digest string
		Size   int
	}{n.Tag, img.Manifest.String(), len(mb)})
	p.Send(progress.Event{Aux: aux})
	return nil
}

// pushBlob uploads one blob unless the registry has it: HEAD, then a
// monolithic upload (POST for a session, PUT of the bytes with the
// digest). id "" reports nothing.
func (r *Registry) pushBlob(ctx context.Context, rc *repoClient, d ocispec.Descriptor, id string, p progress.Sink) error {
	has, err := rc.blobExists(ctx, d.Digest)
	if err != nil {
		return classify(err, "checking blob "+d.Digest.String())
	}
	if has {
		if id != "" {
			p.Send(progress.Update(id, "Layer already exists"))
		}
		return nil
	}
	f, err := r.cs.Open(d.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	defer f.Close()
	resp, err := rc.do(ctx, http.MethodPost, rc.base+"/blobs/uploads/", nil, nil, http.StatusAccepted)
	if err != nil {
		return classify(err, "starting the upload of "+d.Digest.String())
	}
	resp.Body.Close()
	loc, err := uploadURL(resp, d.Digest)
	if err != nil {
		return err
	}
	var body io.Reader = f
	if id != "" {
		body = progress.Reader(f, p, id, "Pushing", d.Size)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, loc, body)
	if err != nil {
		return err
	}
	req.ContentLength = d.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	put, err := rc.client.Do(req)
	if err != nil {
		return classify(err, "uploading "+d.Digest.String())
	}
	defer put.Body.Close()
	if put.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(put.Body, 4096))
		return errdefs.Unavailable("uploading %s: %s: %s", d.Digest, put.Status, bytes.TrimSpace(b))
	}
	if id != "" {
		p.Send(progress.Update(id, "Pushed"))
	}
	return nil
}

// uploadURL is the session's Location (relative to the request, as the
// spec allows) with the digest added to its query.
func uploadURL(resp *http.Response, d digest.Digest) (string, error) {
	loc, err := resp.Location()
	if err != nil {
		return "", errdefs.Unavailable("the registry started an upload without a Location: %v", err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	return (&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path, RawPath: loc.RawPath, RawQuery: loc.RawQuery}).String(), nil
}
