package images

import (
	"context"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
	"github.com/xrt-dev/xrt/manager/reference"
)

// Resolve finds the image a user names: a tag ("busybox", "busybox:1",
// "localhost:5000/x:2"), a repo digest ("busybox@sha256:..."), a full ID
// ("sha256:<hex>" or 64 hex digits) or an unambiguous ID prefix ("3f57d9401f8d").
// As with Docker, a name wins over an ID prefix that looks the same.
func (s *Service) Resolve(ref string) (*Image, error) {
	var img *Image
	err := s.db.View(context.Background(), func(tx *metadata.Tx) error {
		rec, _, err := resolveRecord(tx, ref)
		if err != nil {
			return err
		}
		img, err = loadImage(tx, rec)
		return err
	})
	return img, err
}

// resolveRecord finds the record ref names. named is the parsed name when
// ref was a name (a tag or digest reference), nil when it was an ID.
func resolveRecord(tx *metadata.Tx, ref string) (rec *metadata.Image, named *reference.Named, err error) {
	prefix, full, maybeID := idFromRef(ref)
	if maybeID && (full || strings.HasPrefix(ref, "sha256:")) {
		rec, err := findByID(tx, prefix, ref)
		return rec, nil, err
	}
	n, perr := parseName(ref)
	if perr != nil {
		if maybeID {
			rec, err := findByID(tx, prefix, ref)
			return rec, nil, err
		}
		return nil, nil, perr
	}
	var id digest.Digest
	if n.Digest != "" {
		id, err = repoDigestImage(tx, n.WithDigest(n.Digest).String())
	} else {
		id, err = tagImage(tx, n.String())
	}
	switch {
	case err == nil:
		rec, err := tx.GetImage(id)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s named %s: %w", id, n.Familiar(), err)
		}
		return rec, &n, nil
	case !errdefs.IsNotFound(err):
		return nil, nil, err
	case maybeID:
		if rec, err := findByID(tx, prefix, ref); err == nil {
			return rec, nil, nil
		}
	}
	return nil, nil, errdefs.NotFound("No such image: %s", n.Familiar())
}

// findByID finds the image whose ID starts with the hex prefix.
func findByID(tx *metadata.Tx, prefix, ref string) (*metadata.Image, error) {
	if len(prefix) == 64 {
		rec, err := tx.GetImage(digest.NewDigestFromEncoded(digest.SHA256, prefix))
		if errdefs.IsNotFound(err) {
			return nil, errdefs.NotFound("No such image: %s", ref)
		}
		return rec, err
	}
	all, err := tx.ListImages()
	if err != nil {
		return nil, err
	}
	var found *metadata.Image
	for _, rec := range all {
		if strings.HasPrefix(rec.ID.Encoded(), prefix) {
			if found != nil {
				return nil, errdefs.Invalid("image ID prefix %q is ambiguous: it matches %s and %s", ref, ShortID(found.ID), ShortID(rec.ID))
			}
			found = rec
		}
	}
	if found == nil {
		return nil, errdefs.NotFound("No such image: %s", ref)
	}
	return found, nil
}

// loadImage adds an image record's names and decodes its config.
func loadImage(tx *metadata.Tx, rec *metadata.Image) (*Image, error) {
	tags, digests, err := namesOf(tx, rec.ID)
	if err != nil {
		return nil, err
	}
	return fromRecord(rec, tags, digests)
}
