package metadata

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Image is a stored image, keyed by the digest of its config.
type Image struct {
	ID                digest.Digest // config digest
	ManifestDigest    digest.Digest
	ManifestMediaType string
	Config            []byte   // raw config JSON
	Layers            []string // chain IDs, bottom first
	Size              int64    // unpacked bytes
	Created           time.Time
	Loaded            time.Time
	// Parent is the image this one was built or committed on; "" for
	// none. Only local images have one (Docker does not push it).
	Parent digest.Digest
}

// Tag names an image: docker.io/library/busybox:latest.
type Tag struct {
	Name    string
	ImageID digest.Digest
}

// RepoDigest names an image by manifest: docker.io/library/busybox@sha256:...
type RepoDigest struct {
	Name    string
	ImageID digest.Digest
}

// PutImage inserts or replaces an image. Every layer it names must be
// stored already (ErrNotFound otherwise). Replacing keeps its tags.
func (t *Tx) PutImage(img *Image) error {
	if err := img.ID.Validate(); err != nil {
		return errdefs.Invalid("image id %q: %v", img.ID, err)
	}
	for _, l := range img.Layers {
		var one int
		err := t.queryRow(`SELECT 1 FROM layers WHERE chain_id = ?`, l).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("image %s: layer %s: not found", img.ID, l)
		}
		if err != nil {
			return fmt.Errorf("image %s: %w", img.ID, err)
		}
	}
	if img.Parent != "" {
		if img.Parent == img.ID {
			return errdefs.Invalid("image %s: an image cannot be its own parent", img.ID)
		}
		if err := t.requireImage(img.Parent); err != nil {
			return fmt.Errorf("image %s: parent: %w", img.ID, err)
		}
	}
	_, err := t.exec(`INSERT INTO images (id, manifest_digest, manifest_media_type, config, size, created, loaded, parent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest,
			manifest_media_type = excluded.manifest_media_type, config = excluded.config,
			size = excluded.size, created = excluded.created, loaded = excluded.loaded,
			parent = excluded.parent`,
		img.ID.String(), img.ManifestDigest.String(), img.ManifestMediaType, img.Config,
		img.Size, timeToDB(img.Created), timeToDB(img.Loaded), img.Parent.String())
	if err != nil {
		return fmt.Errorf("put image %s: %w", img.ID, err)
	}
	if _, err := t.exec(`DELETE FROM image_layers WHERE image_id = ?`, img.ID.String()); err != nil {
		return fmt.Errorf("put image %s: %w", img.ID, err)
	}
	for i, l := range img.Layers {
		if _, err := t.exec(`INSERT INTO image_layers (image_id, idx, chain_id) VALUES (?, ?, ?)`,
			img.ID.String(), i, l); err != nil {
			return fmt.Errorf("put image %s: layer %s: %w", img.ID, l, err)
		}
	}
	return nil
}

const imageColumns = `id, manifest_digest, manifest_media_type, config, size, created, loaded, parent`

func scanImage(row interface{ Scan(...any) error }) (*Image, error) {
	var (
		img                     Image
		id, md, created, loaded string
		parent                  string
	)
	if err := row.Scan(&id, &md, &img.ManifestMediaType, &img.Config, &img.Size, &created, &loaded, &parent); err != nil {
		return nil, err
	}
	img.ID, img.Parent = digest.Digest(id), digest.Digest(parent)
	img.ManifestDigest = digest.Digest(md)
	var err error
	if img.Created, err = timeFromDB(created); err != nil {
		return nil, fmt.Errorf("image %s: created: %w", id, err)
	}
	if img.Loaded, err = timeFromDB(loaded); err != nil {
		return nil, fmt.Errorf("image %s: loaded: %w", id, err)
	}
	return &img, nil
}

func (t *Tx) imageLayers(id string) ([]string, error) {
	rows, err := t.query(`SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

// GetImage returns the image id.
func (t *Tx) GetImage(id digest.Digest) (*Image, error) {
	img, err := scanImage(t.queryRow(`SELECT `+imageColumns+` FROM images WHERE id = ?`, id.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("image %s: not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get image %s: %w", id, err)
	}
	if img.Layers, err = t.imageLayers(img.ID.String()); err != nil {
		return nil, fmt.Errorf("get image %s: %w", id, err)
	}
	return img, nil
}

// ListImages returns every image, oldest loaded first.
func (t *Tx) ListImages() ([]*Image, error) {
	rows, err := t.query(`SELECT ` + imageColumns + ` FROM images ORDER BY loaded, id`)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var imgs []*Image
	byID := map[string]*Image{}
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list images: %w", err)
		}
		imgs = append(imgs, img)
		byID[img.ID.String()] = img
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	// One query for all layer lists instead of one per image.
	lrows, err := t.query(`SELECT image_id, chain_id FROM image_layers ORDER BY image_id, idx`)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	defer lrows.Close()
	for lrows.Next() {
		var id, chain string
		if err := lrows.Scan(&id, &chain); err != nil {
			return nil, fmt.Errorf("list images: %w", err)
		}
		if img := byID[id]; img != nil {
			img.Layers = append(img.Layers, chain)
		}
	}
	return imgs, lrows.Err()
}

// DeleteImage removes the image id with its tags and repo digests.
func (t *Tx) DeleteImage(id digest.Digest) error {
	res, err := t.exec(`DELETE FROM images WHERE id = ?`, id.String())
	if err != nil {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("image %s: not found", id)
	}
	return nil
}

// PutTag points the tag at an image, moving it off any other.
func (t *Tx) PutTag(tag Tag) error {
	if tag.Name == "" {
		return errdefs.Invalid("empty tag name")
	}
	if err := t.requireImage(tag.ImageID); err != nil {
		return fmt.Errorf("tag %s: %w", tag.Name, err)
	}
	if _, err := t.exec(`INSERT INTO tags (name, image_id) VALUES (?, ?)
		ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id`, tag.Name, tag.ImageID.String()); err != nil {
		return fmt.Errorf("tag %s: %w", tag.Name, err)
	}
	return nil
}

// GetTag returns the tag name.
func (t *Tx) GetTag(name string) (Tag, error) {
	var id string
	err := t.queryRow(`SELECT image_id FROM tags WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Tag{}, errdefs.NotFound("tag %s: not found", name)
	}
	if err != nil {
		return Tag{}, fmt.Errorf("tag %s: %w", name, err)
	}
	return Tag{Name: name, ImageID: digest.Digest(id)}, nil
}

// ListTags returns every tag in name order.
func (t *Tx) ListTags() ([]Tag, error) {
	return t.pairs(`SELECT name, image_id FROM tags ORDER BY name`)
}

// TagsOf returns the tags of the image id in name order.
func (t *Tx) TagsOf(id digest.Digest) ([]Tag, error) {
	return t.pairs(`SELECT name, image_id FROM tags WHERE image_id = ? ORDER BY name`, id.String())
}

// DeleteTag removes the tag name.
func (t *Tx) DeleteTag(name string) error {
	return t.deleteName(`DELETE FROM tags WHERE name = ?`, "tag", name)
}

// PutRepoDigest records a repo digest of an image (replacing its owner).
func (t *Tx) PutRepoDigest(rd RepoDigest) error {
	if rd.Name == "" {
		return errdefs.Invalid("empty repo digest")
	}
	if err := t.requireImage(rd.ImageID); err != nil {
		return fmt.Errorf("repo digest %s: %w", rd.Name, err)
	}
	if _, err := t.exec(`INSERT INTO repo_digests (name, image_id) VALUES (?, ?)
		ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id`, rd.Name, rd.ImageID.String()); err != nil {
		return fmt.Errorf("repo digest %s: %w", rd.Name, err)
	}
	return nil
}

// RepoDigestsOf returns the repo digests of the image id in name order.
func (t *Tx) RepoDigestsOf(id digest.Digest) ([]RepoDigest, error) {
	tags, err := t.pairs(`SELECT name, image_id FROM repo_digests WHERE image_id = ? ORDER BY name`, id.String())
	return toRepoDigests(tags), err
}

// ListRepoDigests returns every repo digest in name order.
func (t *Tx) ListRepoDigests() ([]RepoDigest, error) {
	tags, err := t.pairs(`SELECT name, image_id FROM repo_digests ORDER BY name`)
	return toRepoDigests(tags), err
}

// DeleteRepoDigest removes the repo digest name.
func (t *Tx) DeleteRepoDigest(name string) error {
	return t.deleteName(`DELETE FROM repo_digests WHERE name = ?`, "repo digest", name)
}

func toRepoDigests(tags []Tag) []RepoDigest {
	if tags == nil {
		return nil
	}
	out := make([]RepoDigest, len(tags))
	for i, t := range tags {
		out[i] = RepoDigest(t)
	}
	return out
}

func (t *Tx) requireImage(id digest.Digest) error {
	var one int
	err := t.queryRow(`SELECT 1 FROM images WHERE id = ?`, id.String()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errdefs.NotFound("image %s: not found", id)
	}
	return err
}

func (t *Tx) pairs(query string, args ...any) ([]Tag, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		var name, id string
		if err := rows.Scan(&name, &id); err != nil {
			return nil, err
		}
		out = append(out, Tag{Name: name, ImageID: digest.Digest(id)})
	}
	return out, rows.Err()
}

func (t *Tx) deleteName(query, what, name string) error {
	res, err := t.exec(query, name)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", what, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("%s %s: not found", what, name)
	}
	return nil
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Times are stored as fixed-width UTC text, so that text order is time
// order; "" is the zero time.
const dbTimeFormat = "2006-01-02T15:04:05.000000000Z"

func timeToDB(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dbTimeFormat)
}

func timeFromDB(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	// Files written before the text form held Unix nanoseconds.
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(0, n).UTC(), nil
	}
	return time.Parse(dbTimeFormat, s)
}
