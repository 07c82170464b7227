package metadata

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

var ctx = context.Background()

func openDB(t *testing.T) (*DB, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "xmgr.db")
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, p
}

func dg(s string) digest.Digest { return digest.FromString(s) }

func TestPragmas(t *testing.T) {
	db, _ := openDB(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"user_version", fmt.Sprint(SchemaVersion)},
	} {
		var got string
		if err := db.wr.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
}

func TestSchemaNewerRefused(t *testing.T) {
	db, p := openDB(t)
	if _, err := db.wr.Exec(`PRAGMA user_version = 999`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(p); err == nil {
		t.Fatal("opened a database from a newer xmgr")
	}
}

func putLayers(t *testing.T, db *DB, chain ...digest.Digest) {
	t.Helper()
	err := db.Update(ctx, func(tx *Tx) error {
		var parent digest.Digest
		for _, c := range chain {
			if err := tx.PutLayer(&Layer{ChainID: c, DiffID: c, Parent: parent, Size: 10}); err != nil {
				return err
			}
			parent = c
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImagesTagsLayers(t *testing.T) {
	db, _ := openDB(t)
	l1, l2 := dg("l1"), dg("l2")
	putLayers(t, db, l1, l2)
	img := &Image{
		ID: dg("config"), ManifestDigest: dg("manifest"), ManifestMediaType: "application/vnd.oci.image.manifest.v1+json",
		Config: []byte(`{"architecture":"amd64"}`), Layers: []string{l1.String(), l2.String()}, Size: 20,
		Created: time.Unix(0, 0).UTC(), Loaded: time.Unix(1700000000, 5).UTC(),
	}
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.PutImage(img); err != nil {
			return err
		}
		if err := tx.PutTag(Tag{Name: "docker.io/library/busybox:latest", ImageID: img.ID}); err != nil {
			return err
		}
		return tx.PutRepoDigest(RepoDigest{Name: "docker.io/library/busybox@" + img.ManifestDigest.String(), ImageID: img.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx *Tx) error {
		got, err := tx.GetImage(img.ID)
		if err != nil {
			return err
		}
		if fmt.Sprint(*got) != fmt.Sprint(*img) {
			t.Errorf("GetImage = %+v\nwant %+v", *got, *img)
		}
		all, err := tx.ListImages()
		if err != nil || len(all) != 1 || len(all[0].Layers) != 2 {
			t.Errorf("ListImages = %v, %v", all, err)
		}
		tags, _ := tx.TagsOf(img.ID)
		rds, _ := tx.RepoDigestsOf(img.ID)
		if len(tags) != 1 || len(rds) != 1 {
			t.Errorf("tags %v repo digests %v", tags, rds)
		}
		imgs, kids, err := tx.LayerUsers(l1)
		if err != nil || len(imgs) != 1 || len(kids) != 1 || kids[0] != l2 {
			t.Errorf("LayerUsers(l1) = %v %v %v", imgs, kids, err)
		}
		if err := tx.PutTag(Tag{Name: "x", ImageID: img.ID}); err == nil {
			t.Error("a write inside View succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A layer in use cannot go; nor can a parent.
	err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteLayer(l2) })
	if !errdefs.IsConflict(err) {
		t.Errorf("DeleteLayer of a used layer = %v", err)
	}
	err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteLayer(l1) })
	if !errdefs.IsConflict(err) {
		t.Errorf("DeleteLayer of a parent = %v", err)
	}
	// An image whose layer is unknown is refused.
	err = db.Update(ctx, func(tx *Tx) error {
		return tx.PutImage(&Image{ID: dg("other"), Config: []byte("{}"), Layers: []string{dg("nope").String()}})
	})
	if !errdefs.IsNotFound(err) {
		t.Errorf("PutImage with an unknown layer = %v", err)
	}
	// Deleting the image takes its tags along; then the layers can go.
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.DeleteImage(img.ID); err != nil {
			return err
		}
		if _, err := tx.GetTag("docker.io/library/busybox:latest"); !errdefs.IsNotFound(err) {
			return fmt.Errorf("tag survived its image: %v", err)
		}
		if rds, _ := tx.ListRepoDigests(); len(rds) != 0 {
			return fmt.Errorf("repo digests survived their image: %v", rds)
		}
		if err := tx.DeleteLayer(l2); err != nil {
			return err
		}
		return tx.DeleteLayer(l1)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx *Tx) error {
		if _, err := tx.GetImage(img.ID); !errdefs.IsNotFound(err) {
			t.Errorf("GetImage after delete = %v", err)
		}
		if _, err := tx.GetLayer(l1); !errdefs.IsNotFound(err) {
			t.Errorf("GetLayer after delete = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTagMoves(t *testing.T) {
	db, _ := openDB(t)
	a, b := dg("a"), dg("b")
	err := db.Update(ctx, func(tx *Tx) error {
		for _, id := range []digest.Digest{a, b} {
			if err := tx.PutImage(&Image{ID: id, Config: []byte("{}")}); err != nil {
				return err
			}
		}
		if err := tx.PutTag(Tag{Name: "t", ImageID: a}); err != nil {
			return err
		}
		return tx.PutTag(Tag{Name: "t", ImageID: b})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx *Tx) error {
		tag, err := tx.GetTag("t")
		if err != nil || tag.ImageID != b {
			t.Errorf("GetTag = %v, %v", tag, err)
		}
		if tags, _ := tx.TagsOf(a); len(tags) != 0 {
			t.Errorf("old image keeps the tag: %v", tags)
		}
		return nil
	})
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteTag("nope") }); !errdefs.IsNotFound(err) {
		t.Errorf("DeleteTag of a missing tag = %v", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.PutTag(Tag{Name: "u", ImageID: dg("missing")}) }); !errdefs.IsNotFound(err) {
		t.Errorf("PutTag to a missing image = %v", err)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	db, _ := openDB(t)
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.PutLayer(&Layer{ChainID: dg("l"), DiffID: dg("l")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	db.View(ctx, func(tx *Tx) error {
		if ls, _ := tx.ListLayers(); len(ls) != 0 {
			t.Errorf("a rolled-back layer is visible: %v", ls)
		}
		return nil
	})
}

// Writers from many goroutines and a second handle on the same file: no
// "database is locked", every row lands.
func TestConcurrentWriters(t *testing.T) {
	db, p := openDB(t)
	db2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := db
			if i%2 == 1 {
				h = db2
			}
			errs <- h.Update(ctx, func(tx *Tx) error {
				c := dg(fmt.Sprint(i))
				return tx.PutLayer(&Layer{ChainID: c, DiffID: c})
			})
			if err := h.View(ctx, func(tx *Tx) error { _, err := tx.ListLayers(); return err }); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	db.View(ctx, func(tx *Tx) error {
		if ls, _ := tx.ListLayers(); len(ls) != 40 {
			t.Errorf("%d layers, want 40", len(ls))
		}
		return nil
	})
}

func TestListImagesByLoaded(t *testing.T) {
	db, _ := openDB(t)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	// Whole seconds and fractions: text order must still be time order.
	loaded := []time.Time{base.Add(1500 * time.Millisecond), base, base.Add(time.Second), {}}
	err := db.Update(ctx, func(tx *Tx) error {
		for i, l := range loaded {
			if err := tx.PutImage(&Image{ID: dg(fmt.Sprint(i)), Config: []byte("{}"), Loaded: l}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx *Tx) error {
		imgs, err := tx.ListImages()
		if err != nil {
			t.Fatal(err)
		}
		var got []time.Time
		for _, img := range imgs {
			got = append(got, img.Loaded)
		}
		want := []time.Time{{}, base, base.Add(time.Second), base.Add(1500 * time.Millisecond)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ListImages order %v, want %v", got, want)
		}
		return nil
	})
}
