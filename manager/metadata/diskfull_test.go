package metadata

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestDiskFullIsENOSPC fills the database to a page limit (SQLite's
// SQLITE_FULL, as on a full disk) and checks that the error carries
// ENOSPC and that the database still works once there is room.
func TestDiskFullIsENOSPC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "full.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pages int
	if err := db.wr.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.wr.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		d := digest.FromString(fmt.Sprint(i))
		full = db.Update(ctx, func(tx *Tx) error { return tx.PutLayer(&Layer{ChainID: d, DiffID: d, Size: int64(i)}) })
	}
	if full == nil {
		t.Fatal("the database never filled up")
	}
	if !errors.Is(full, syscall.ENOSPC) || !strings.Contains(full.Error(), "write "+path+": no space left on device") {
		t.Errorf("error %q is not ENOSPC naming %s", full, path)
	}
	if _, err := db.wr.Exec("PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("after")
	if err := db.Update(ctx, func(tx *Tx) error { return tx.PutLayer(&Layer{ChainID: d, DiffID: d}) }); err != nil {
		t.Errorf("write with room again: %v", err)
	}
}
