package metadata

import (
	"database/sql"
	"fmt"
)

// migrations[i] moves the schema from version i to i+1. Append only: a
// released step is never edited, later issues (containers, volumes,
// networks) add their tables as new steps.
var migrations = []string{
	// 1: images, tags, repo digests, layers.
	`
CREATE TABLE layers (
	chain_id        TEXT PRIMARY KEY,
	diff_id         TEXT NOT NULL,
	-- no foreign key: layers of one image are unpacked in parallel, so a
	-- child may be recorded before its parent
	parent          TEXT NOT NULL DEFAULT '',
	blob            TEXT NOT NULL DEFAULT '',
	blob_media_type TEXT NOT NULL DEFAULT '',
	blob_size       INTEGER NOT NULL DEFAULT 0,
	size            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX layers_parent ON layers(parent);

CREATE TABLE images (
	id                  TEXT PRIMARY KEY,
	manifest_digest     TEXT NOT NULL DEFAULT '',
	manifest_media_type TEXT NOT NULL DEFAULT '',
	config              BLOB NOT NULL,
	size                INTEGER NOT NULL DEFAULT 0,
	-- times as fixed-width UTC text (sorts as it orders; '' is unset):
	-- an image built "at the epoch" for reproducibility keeps 1970
	created             TEXT NOT NULL DEFAULT '',
	loaded              TEXT NOT NULL DEFAULT ''
);

CREATE TABLE image_layers (
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	idx      INTEGER NOT NULL,
	chain_id TEXT NOT NULL REFERENCES layers(chain_id),
	PRIMARY KEY (image_id, idx)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);

CREATE TABLE tags (
	name     TEXT PRIMARY KEY,
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX tags_image ON tags(image_id);

CREATE TABLE repo_digests (
	name     TEXT PRIMARY KEY,
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX repo_digests_image ON repo_digests(image_id);
`,
	// 2: image parents (Docker's classic builder and commit chain images)
	// and the build cache: (parent image, step key) -> image. parent ''
	// is none (FROM scratch); no foreign key, since a parent may be gone
	// (its children then show "<missing>" history lines).
	`
ALTER TABLE images ADD COLUMN parent TEXT NOT NULL DEFAULT '';
CREATE INDEX images_parent ON images(parent);

CREATE TABLE build_cache (
	parent   TEXT NOT NULL,
	key      TEXT NOT NULL,
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	PRIMARY KEY (parent, key)
);
CREATE INDEX build_cache_image ON build_cache(image_id);
`,
}

// SchemaVersion is the version Open leaves the file at.
var SchemaVersion = len(migrations)

func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this xmgr knows (%d)", v, len(migrations))
	}
	if v == len(migrations) {
		return nil
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(migrations[i]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
		}
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	return tx.Commit()
}
