package metadata

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// CacheEntry is one row of the build cache, as Docker's classic builder
// keeps it: the image a build step (Key) made on top of Parent ("" when
// the step ran on no image, FROM scratch). Deleting the image drops its
// rows.
type CacheEntry struct {
	Parent  digest.Digest
	Key     string
	ImageID digest.Digest
}

// ChildrenOf returns the images whose parent is id, in ID order.
func (t *Tx) ChildrenOf(id digest.Digest) ([]digest.Digest, error) {
	rows, err := t.query(`SELECT id FROM images WHERE parent = ? ORDER BY id`, id.String())
	if err != nil {
		return nil, fmt.Errorf("children of image %s: %w", id, err)
	}
	ss, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("children of image %s: %w", id, err)
	}
	out := make([]digest.Digest, len(ss))
	for i, s := range ss {
		out[i] = digest.Digest(s)
	}
	return out, nil
}

// PutCache records (or moves) the cache entry (e.Parent, e.Key). The
// image must exist (ErrNotFound otherwise).
func (t *Tx) PutCache(e CacheEntry) error {
	if e.Key == "" {
		return errdefs.Invalid("build cache: empty key")
	}
	if err := t.requireImage(e.ImageID); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	_, err := t.exec(`INSERT INTO build_cache (parent, key, image_id) VALUES (?, ?, ?)
		ON CONFLICT(parent, key) DO UPDATE SET image_id = excluded.image_id`,
		e.Parent.String(), e.Key, e.ImageID.String())
	if err != nil {
		return fmt.Errorf("build cache: put %s: %w", e.ImageID, err)
	}
	return nil
}

// GetCache returns the entry (parent, key); ErrNotFound when there is none.
func (t *Tx) GetCache(parent digest.Digest, key string) (CacheEntry, error) {
	var id string
	err := t.queryRow(`SELECT image_id FROM build_cache WHERE parent = ? AND key = ?`, parent.String(), key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return CacheEntry{}, errdefs.NotFound("build cache: no entry for step on %s", cacheParentName(parent))
	}
	if err != nil {
		return CacheEntry{}, fmt.Errorf("build cache: %w", err)
	}
	return CacheEntry{Parent: parent, Key: key, ImageID: digest.Digest(id)}, nil
}

// ListCache returns every cache entry, by parent and key.
func (t *Tx) ListCache() ([]CacheEntry, error) {
	rows, err := t.query(`SELECT parent, key, image_id FROM build_cache ORDER BY parent, key`)
	if err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	defer rows.Close()
	var out []CacheEntry
	for rows.Next() {
		var p, k, id string
		if err := rows.Scan(&p, &k, &id); err != nil {
			return nil, fmt.Errorf("build cache: %w", err)
		}
		out = append(out, CacheEntry{Parent: digest.Digest(p), Key: k, ImageID: digest.Digest(id)})
	}
	return out, rows.Err()
}

// DeleteCache removes the entry (parent, key); ErrNotFound when absent.
func (t *Tx) DeleteCache(parent digest.Digest, key string) error {
	res, err := t.exec(`DELETE FROM build_cache WHERE parent = ? AND key = ?`, parent.String(), key)
	if err != nil {
		return fmt.Errorf("build cache: delete: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("build cache: no entry for step on %s", cacheParentName(parent))
	}
	return nil
}

// ClearCache removes every cache entry and returns how many there were.
func (t *Tx) ClearCache() (int64, error) {
	res, err := t.exec(`DELETE FROM build_cache`)
	if err != nil {
		return 0, fmt.Errorf("build cache: clear: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func cacheParentName(p digest.Digest) string {
	if p == "" {
		return "scratch"
	}
	return p.String()
}
