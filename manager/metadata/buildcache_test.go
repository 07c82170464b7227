package metadata

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func putImages(t *testing.T, db *DB, imgs ...*Image) {
	t.Helper()
	err := db.Update(ctx, func(tx *Tx) error {
		for _, img := range imgs {
			if err := tx.PutImage(img); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImageParent(t *testing.T) {
	db, _ := openDB(t)
	base := &Image{ID: dg("base"), Config: []byte("{}")}
	a := &Image{ID: dg("a"), Config: []byte("{}"), Parent: base.ID}
	b := &Image{ID: dg("b"), Config: []byte("{}"), Parent: a.ID}
	putImages(t, db, base, a, b)

	tests := []struct {
		name string
		img  *Image
		ok   func(error) bool
	}{
		{"missing parent", &Image{ID: dg("x"), Config: []byte("{}"), Parent: dg("nope")}, errdefs.IsNotFound},
		{"own parent", &Image{ID: dg("y"), Config: []byte("{}"), Parent: dg("y")}, errdefs.IsInvalidArgument},
	}
	for _, tt := range tests {
		err := db.Update(ctx, func(tx *Tx) error { return tx.PutImage(tt.img) })
		if !tt.ok(err) {
			t.Errorf("%s: PutImage = %v", tt.name, err)
		}
	}
	err := db.View(ctx, func(tx *Tx) error {
		got, err := tx.GetImage(b.ID)
		if err != nil || got.Parent != a.ID {
			t.Errorf("GetImage(b).Parent = %v, %v; want %s", got, err, a.ID)
		}
		for _, tc := range []struct {
			id   digest.Digest
			want int
		}{{base.ID, 1}, {a.ID, 1}, {b.ID, 0}} {
			kids, err := tx.ChildrenOf(tc.id)
			if err != nil || len(kids) != tc.want {
				t.Errorf("ChildrenOf(%s) = %v, %v; want %d", tc.id, kids, err, tc.want)
			}
		}
		all, err := tx.ListImages()
		if err != nil || len(all) != 3 {
			t.Fatalf("ListImages = %v, %v", all, err)
		}
		for _, img := range all {
			if img.ID == a.ID && img.Parent != base.ID {
				t.Errorf("ListImages: a's parent %q", img.Parent)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBuildCache(t *testing.T) {
	db, _ := openDB(t)
	base := &Image{ID: dg("base"), Config: []byte("{}")}
	a := &Image{ID: dg("a"), Config: []byte("{}"), Parent: base.ID}
	b := &Image{ID: dg("b"), Config: []byte("{}"), Parent: a.ID}
	putImages(t, db, base, a, b)
	entries := []CacheEntry{
		{Parent: base.ID, Key: "RUN x", ImageID: a.ID},
		{Parent: a.ID, Key: "RUN y", ImageID: b.ID},
		{Parent: "", Key: "ADD f", ImageID: base.ID},
	}
	err := db.Update(ctx, func(tx *Tx) error {
		for _, e := range entries {
			if err := tx.PutCache(e); err != nil {
				return err
			}
		}
		if err := tx.PutCache(CacheEntry{Parent: a.ID, Key: "z", ImageID: dg("gone")}); !errdefs.IsNotFound(err) {
			t.Errorf("PutCache of a missing image = %v", err)
		}
		if err := tx.PutCache(CacheEntry{Parent: a.ID, ImageID: b.ID}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("PutCache without key = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(parent digest.Digest, key string) (digest.Digest, error) {
		var e CacheEntry
		err := db.View(ctx, func(tx *Tx) error {
			var err error
			e, err = tx.GetCache(parent, key)
			return err
		})
		return e.ImageID, err
	}
	for _, e := range entries {
		if got, err := get(e.Parent, e.Key); err != nil || got != e.ImageID {
			t.Errorf("GetCache(%q, %q) = %s, %v; want %s", e.Parent, e.Key, got, err, e.ImageID)
		}
	}
	if _, err := get(base.ID, "RUN other"); !errdefs.IsNotFound(err) {
		t.Errorf("GetCache of a missing key = %v", err)
	}
	// Deleting an image drops the rows that name it.
	err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteImage(b.ID) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(a.ID, "RUN y"); !errdefs.IsNotFound(err) {
		t.Errorf("cache row of a deleted image = %v", err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.DeleteCache(base.ID, "RUN x"); err != nil {
			return err
		}
		if err := tx.DeleteCache(base.ID, "RUN x"); !errdefs.IsNotFound(err) {
			t.Errorf("second DeleteCache = %v", err)
		}
		n, err := tx.ClearCache()
		if n != 1 {
			t.Errorf("ClearCache removed %d rows, want 1", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx *Tx) error {
		if all, err := tx.ListCache(); err != nil || len(all) != 0 {
			t.Errorf("ListCache after clear = %v, %v", all, err)
		}
		return nil
	})
}

// A file written by the first schema opens, migrates and keeps its rows.
func TestMigrateFromV1(t *testing.T) {
	p := filepath.Join(t.TempDir(), "xmgr.db")
	raw, err := sql.Open("sqlite", "file:"+p+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], `PRAGMA user_version = 1`,
		`INSERT INTO images (id, config, created, loaded) VALUES ('` + dg("old").String() + `', '{}', '', '')`,
		`INSERT INTO tags (name, image_id) VALUES ('docker.io/library/old:latest', '` + dg("old").String() + `')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			raw.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.wr.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != SchemaVersion || v < 2 {
		t.Fatalf("user_version = %d, %v; want %d", v, err, SchemaVersion)
	}
	child := &Image{ID: dg("child"), Config: []byte("{}"), Parent: dg("old")}
	putImages(t, db, child)
	err = db.Update(ctx, func(tx *Tx) error {
		old, err := tx.GetImage(dg("old"))
		if err != nil || old.Parent != "" {
			t.Errorf("old image after migration = %+v, %v", old, err)
		}
		if tag, err := tx.GetTag("docker.io/library/old:latest"); err != nil || tag.ImageID != dg("old") {
			t.Errorf("old tag after migration = %v, %v", tag, err)
		}
		return tx.PutCache(CacheEntry{Parent: dg("old"), Key: "k", ImageID: child.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
}
