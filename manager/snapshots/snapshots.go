// Package snapshots is the manager's graph driver: named directory trees,
// each an active (writable) or committed (read-only) layer on top of a
// parent, in the manner of containerd's snapshotters. A snapshotter never
// mounts for its caller: Prepare, View and Mounts return the mounts to make,
// and the caller mounts them where and when it wants (Mount.Mount helps).
//
// Two drivers: Overlay (overlayfs, the default; a snapshot holds only its
// own changes, laid out like Docker's overlay2) and Native (plain copies,
// Docker's vfs, for file systems where overlayfs cannot be mounted).
package snapshots

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Kind is the state of a snapshot.
type Kind int

const (
	KindActive    Kind = iota // writable, from Prepare
	KindView                  // read-only, from View
	KindCommitted             // read-only, a parent for others, from Commit
)

func (k Kind) String() string {
	switch k {
	case KindActive:
		return "active"
	case KindView:
		return "view"
	case KindCommitted:
		return "committed"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Info describes a snapshot.
type Info struct {
	Key     string
	Parent  string
	Kind    Kind
	Created time.Time
}

// Snapshotter is a graph driver.
type Snapshotter interface {
	// Prepare makes an active snapshot key on top of the committed parent
	// ("" for an empty one) and returns the mounts of its writable tree.
	Prepare(key, parent string) ([]Mount, error)
	// View makes a read-only snapshot key of parent.
	View(key, parent string) ([]Mount, error)
	// Mounts returns the mounts of an active snapshot or a view.
	Mounts(key string) ([]Mount, error)
	// Commit turns the active snapshot key into the committed snapshot
	// name; key is gone afterwards.
	Commit(name, key string) error
	// Remove deletes a snapshot; a committed one only when no other
	// snapshot has it as parent (ErrConflict).
	Remove(key string) error
	Stat(key string) (Info, error)
	// Walk calls fn for every snapshot, in key order.
	Walk(fn func(Info) error) error
	// Dir returns where an active snapshot's changes live, and how
	// whiteouts are written there, so a layer can be untarred straight
	// into it without mounting.
	Dir(key string) (dir string, w archive.Whiteouts, err error)
	// Usage returns the bytes a snapshot holds itself (not its parents').
	Usage(key string) (int64, error)
}

// Unlinked is a Snapshotter whose snapshots hold only their own changes
// (overlay), so a layer can be prepared, unpacked and committed before its
// parent exists: the parent is recorded by name and needed only when the
// layer, or something on top of it, is mounted.
type Unlinked interface {
	Snapshotter
	// PrepareUnlinked is Prepare without the check that parent exists.
	PrepareUnlinked(key, parent string) error
}

// Driver names.
const (
	DriverOverlay = "overlay2"
	DriverNative  = "native"
)

// New opens the snapshotter driver: "" or "overlay2" is overlay, falling
// back to native when overlayfs cannot be mounted here (Name tells which
// one came back); "overlay" insists on overlay; "native" (or "vfs") is the
// copying driver. Its state lives in root/<driver>, so root is
// <data-root>/snapshots.
func New(driver, root string) (Snapshotter, error) {
	switch driver {
	case "", DriverOverlay, "overlay", "overlayfs":
		fallback := driver == "" || driver == DriverOverlay
		dir := filepath.Join(root, DriverOverlay)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("snapshots: %w", err)
		}
		if err := OverlaySupported(dir); err != nil {
			if !fallback {
				return nil, fmt.Errorf("storage driver overlay2: %w", err)
			}
			os.Remove(dir) // only if empty: never a store in use
			return NewNative(filepath.Join(root, DriverNative))
		}
		return NewOverlay(dir)
	case DriverNative, "vfs":
		return NewNative(filepath.Join(root, DriverNative))
	}
	return nil, errdefs.Invalid("unknown storage driver %q (want overlay2 or native)", driver)
}

// Name returns the driver name of a snapshotter made by this package.
func Name(s Snapshotter) string {
	switch s.(type) {
	case *Overlay:
		return DriverOverlay
	case *Native:
		return DriverNative
	}
	return fmt.Sprintf("%T", s)
}
