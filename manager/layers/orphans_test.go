package layers

import (
	"bytes"
	"testing"

	"github.com/xrt-dev/xrt/manager/snapshots"
)

// TestOrphanRemovedWhenFreed: a layer whose record cannot be written (the
// database fails, as on a full disk) while a layer is being unpacked on
// top of it (overlay unpacks an image's layers in parallel) cannot lose
// its snapshot at once; it must go as soon as nothing holds it, not stay
// as a snapshot that no record, image or GC names.
func TestOrphanRemovedWhenFreed(t *testing.T) {
	f := newFixture(t, snapshots.DriverOverlay)
	u, ok := f.sn.(snapshots.Unlinked)
	if !ok {
		t.Skip("overlay driver not available")
	}
	base := makeLayer(t, tent{name: "base", body: "base\n"})
	// A child being unpacked on top of the base, which is not there yet.
	child := tempPrefix + "child-test"
	if err := u.PrepareUnlinked(child, base.diffID.String()); err != nil {
		t.Fatal(err)
	}
	f.db.Close() // every record fails from here on

	if _, err := f.ls.Apply(ctx, bytes.NewReader(base.blob), base.desc, base.diffID, ""); err == nil {
		t.Fatal("Apply with a failing database succeeded")
	}
	if _, err := f.sn.Stat(base.diffID.String()); err != nil {
		t.Fatalf("the base snapshot is already gone (%v): nothing held it, the test proves nothing", err)
	}
	// The child's unpack ends; the next Apply to end drops the orphan.
	if err := f.sn.Remove(child); err != nil {
		t.Fatal(err)
	}
	other := makeLayer(t, tent{name: "other", body: "other\n"})
	f.ls.Apply(ctx, bytes.NewReader(other.blob), other.desc, other.diffID, "")
	if keys := f.snapshotKeys(t); len(keys) != 0 {
		t.Errorf("snapshots left: %v", keys)
	}
}
