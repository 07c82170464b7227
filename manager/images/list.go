package images

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// ListFilter selects images as `docker images --filter` (and, for Until
// and LabelNot, `docker image prune --filter`) does.
type ListFilter struct {
	// All includes intermediate images: those without a name that are
	// the parent of another image (a build's steps).
	All bool
	// Dangling: true keeps only the untagged images that are no image's
	// parent, false only named ones. As Docker's, dangling=true ignores
	// All: intermediate images are never dangling.
	Dangling *bool
	// Reference keeps images with a name matching any of these patterns
	// (path.Match on the familiar "name:tag" or "name"), and shows only the
	// matching names.
	Reference []string
	// Before and Since keep images created before/after the named image.
	Before, Since string
	// Until keeps images created before a time: a duration ("24h") back
	// from now, an RFC 3339 time or date, or unix seconds.
	Until string
	// Label keeps images with all these labels ("key" or "key=value");
	// LabelNot drops images with any of them.
	Label, LabelNot []string
}

// List returns the images the filter selects, newest first, as
// `docker images` shows them.
func (s *Service) List(f ListFilter) ([]*Image, error) {
	until, err := parseUntil(f.Until, time.Now())
	if err != nil {
		return nil, err
	}
	var out []*Image
	err = s.db.View(context.Background(), func(tx *metadata.Tx) error {
		before, err := boundary(tx, f.Before)
		if err != nil {
			return err
		}
		since, err := boundary(tx, f.Since)
		if err != nil {
			return err
		}
		recs, err := tx.ListImages()
		if err != nil {
			return err
		}
		tags, digests, err := allNames(tx)
		if err != nil {
			return err
		}
		hasChild := map[string]bool{}
		for _, rec := range recs {
			hasChild[rec.Parent.String()] = true
		}
		for _, rec := range recs {
			if before != nil && !rec.Created.Before(before.Created) {
				continue
			}
			if since != nil && !rec.Created.After(since.Created) {
				continue
			}
			if !until.IsZero() && rec.Created.After(until) {
				continue
			}
			t, d := tags[rec.ID], digests[rec.ID]
			switch unnamed := len(t)+len(d) == 0; {
			case f.Dangling != nil && *f.Dangling:
				if len(t) > 0 || hasChild[rec.ID.String()] {
					continue
				}
			case f.Dangling != nil:
				if len(t) == 0 {
					continue
				}
			case unnamed && hasChild[rec.ID.String()] && !f.All:
				continue // an intermediate image: `docker images -a` shows it
			}
			if len(f.Reference) > 0 {
				t, d = matchNames(f.Reference, t), matchNames(f.Reference, d)
				if len(t)+len(d) == 0 {
					continue
				}
			}
			img, err := fromRecord(rec, t, d)
			if err != nil {
				return err
			}
			if !matchLabels(img.Config.Config.Labels, f.Label, f.LabelNot) {
				continue
			}
			out = append(out, img)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// boundary resolves a before/since image, nil when ref is "".
func boundary(tx *metadata.Tx, ref string) (*metadata.Image, error) {
	if ref == "" {
		return nil, nil
	}
	rec, _, err := resolveRecord(tx, ref)
	return rec, err
}

// matchNames keeps the full names whose familiar form matches a pattern,
// with or without its tag or digest, as Docker's reference filter does.
func matchNames(patterns, names []string) []string {
	var out []string
	for _, full := range names {
		fam := familiar(full)
		famName := fam
		if i := strings.IndexByte(fam, '@'); i >= 0 {
			famName = fam[:i]
		} else if i := strings.LastIndexByte(fam, ':'); i > strings.LastIndexByte(fam, '/') {
			famName = fam[:i]
		}
		for _, p := range patterns {
			if ok, _ := path.Match(p, fam); ok {
				out = append(out, full)
				break
			}
			if ok, _ := path.Match(p, famName); ok {
				out = append(out, full)
				break
			}
		}
	}
	return out
}

// matchLabels: every want ("k" or "k=v") present, no notWant present.
func matchLabels(labels map[string]string, want, notWant []string) bool {
	has := func(kv string) bool {
		k, v, withValue := strings.Cut(kv, "=")
		got, ok := labels[k]
		return ok && (!withValue || got == v)
	}
	for _, w := range want {
		if !has(w) {
			return false
		}
	}
	for _, w := range notWant {
		if has(w) {
			return false
		}
	}
	return true
}

// parseUntil reads Docker's timestamp forms: a Go duration back from now,
// RFC 3339 (with or without zone or seconds), a date, or unix seconds
// (with an optional fraction).
func parseUntil(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		loc := time.Local
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if sec, frac, ok := strings.Cut(s, "."); ok || sec != "" {
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if frac != "" {
				f, err := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
				if err != nil {
					return time.Time{}, errdefs.Invalid("invalid timestamp %q", s)
				}
				ns = f
			}
			return time.Unix(n, ns), nil
		}
	}
	return time.Time{}, errdefs.Invalid("invalid timestamp %q: want a duration (24h), a time (2006-01-02T15:04:05) or unix seconds", s)
}

// Tag points target (a tag name; ":latest" when it has none) at the image
// src names, moving it off any image it named before.
func (s *Service) Tag(src, target string) error {
	n, err := parseName(target)
	if err != nil {
		return err
	}
	if n.Digest != "" {
		return errdefs.Invalid("refusing to create a tag with a digest reference")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A tag that names the image already costs no write (a rebuild that
	// hit the cache tags what it had tagged).
	same := false
	_ = s.db.View(context.Background(), func(tx *metadata.Tx) error {
		rec, _, err := resolveRecord(tx, src)
		if err != nil {
			return err
		}
		t, err := tx.GetTag(n.String())
		same = err == nil && t.ImageID == rec.ID
		return nil
	})
	if same {
		return nil
	}
	return s.db.Update(context.Background(), func(tx *metadata.Tx) error {
		rec, _, err := resolveRecord(tx, src)
		if err != nil {
			return err
		}
		if err := tx.PutTag(metadata.Tag{Name: n.String(), ImageID: rec.ID}); err != nil {
			return fmt.Errorf("tag %s as %s: %w", ShortID(rec.ID), n.Familiar(), err)
		}
		return nil
	})
}
