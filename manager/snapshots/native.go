package snapshots

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Native is the copying driver (Docker's vfs): every active snapshot is a
// full copy of its parent, so it works on any file system, at the price of
// space and time.
//
//	<root>/<id>/fs         the snapshot's whole tree
//	<root>/<id>/meta.json  key, parent, kind
type Native struct {
	ix *index
}

// NewNative opens (creating when missing) a native driver at root.
func NewNative(root string) (*Native, error) {
	ix, err := loadIndex(root)
	if err != nil {
		return nil, err
	}
	return &Native{ix: ix}, nil
}

// Prepare makes an active snapshot holding a copy of parent.
func (n *Native) Prepare(key, parent string) ([]Mount, error) {
	r, err := n.create(key, parent, KindActive)
	if err != nil {
		return nil, err
	}
	return n.mounts(r)
}

// View makes a read-only snapshot of parent: a read-only bind mount of the
// parent's tree, which being committed never changes.
func (n *Native) View(key, parent string) ([]Mount, error) {
	r, err := n.create(key, parent, KindView)
	if err != nil {
		return nil, err
	}
	return n.mounts(r)
}

func (n *Native) create(key, parent string, kind Kind) (*record, error) {
	n.ix.mu.Lock()
	if err := n.ix.checkNew(key, parent, true); err != nil {
		n.ix.mu.Unlock()
		return nil, err
	}
	var from string
	if parent != "" && kind == KindActive {
		from = filepath.Join(n.ix.dir(n.ix.byKey[parent]), "fs")
	}
	r := &record{ID: newID(), Key: key, Parent: parent, Kind: kind, Created: time.Now().UTC()}
	// Reserve the key while copying without the lock held.
	n.ix.byKey[key] = r
	n.ix.mu.Unlock()

	dir := n.ix.dir(r)
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, "fs"), 0o755)
	}
	if err == nil && from != "" {
		err = archive.Copy(filepath.Join(dir, "fs"), from)
	}
	if err == nil {
		err = n.ix.save(r)
	}
	if err != nil {
		os.RemoveAll(dir)
		n.ix.mu.Lock()
		delete(n.ix.byKey, key)
		n.ix.mu.Unlock()
		return nil, fmt.Errorf("snapshot %s: %w", key, err)
	}
	return r, nil
}

// Mounts returns the mounts of an active snapshot or a view.
func (n *Native) Mounts(key string) ([]Mount, error) {
	n.ix.mu.Lock()
	r, err := n.ix.get(key)
	n.ix.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return n.mounts(r)
}

func (n *Native) mounts(r *record) ([]Mount, error) {
	n.ix.mu.Lock()
	defer n.ix.mu.Unlock()
	switch r.Kind {
	case KindActive:
		return []Mount{{Type: "bind", Source: filepath.Join(n.ix.dir(r), "fs"), Options: []string{"rw", "rbind"}}}, nil
	case KindView:
		src := filepath.Join(n.ix.dir(r), "fs")
		if r.Parent != "" {
			p, err := n.ix.get(r.Parent)
			if err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", r.Key, err)
			}
			src = filepath.Join(n.ix.dir(p), "fs")
		}
		return []Mount{{Type: "bind", Source: src, Options: []string{"ro", "rbind"}}}, nil
	}
	return nil, errdefs.Invalid("snapshot %s is committed: make a view of it", r.Key)
}

// Commit turns the active snapshot key into the committed snapshot name.
func (n *Native) Commit(name, key string) error {
	n.ix.mu.Lock()
	defer n.ix.mu.Unlock()
	r, err := n.ix.get(key)
	if err != nil {
		return err
	}
	if r.Kind != KindActive {
		return errdefs.Invalid("snapshot %s is not active", key)
	}
	if err := n.ix.checkNew(name, "", false); err != nil {
		return err
	}
	c := *r
	c.Key, c.Kind = name, KindCommitted
	if err := n.ix.save(&c); err != nil {
		return fmt.Errorf("commit snapshot %s: %w", key, err)
	}
	delete(n.ix.byKey, key)
	n.ix.byKey[name] = &c
	return nil
}

// Remove deletes a snapshot.
func (n *Native) Remove(key string) error {
	n.ix.mu.Lock()
	r, err := n.ix.get(key)
	if err == nil && r.Kind == KindCommitted {
		if kids := n.ix.children(key); len(kids) > 0 {
			err = errdefs.Conflict("snapshot %s is the parent of %s", key, kids[0])
		}
	}
	gone := ""
	if err == nil {
		gone = filepath.Join(n.ix.root, removingName+r.ID)
		if rerr := os.Rename(n.ix.dir(r), gone); rerr != nil {
			err = fmt.Errorf("remove snapshot %s: %w", key, rerr)
		} else {
			delete(n.ix.byKey, key)
		}
	}
	n.ix.mu.Unlock()
	if err != nil {
		return err
	}
	if err := removeTree(gone); err != nil {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	return nil
}

// Stat describes the snapshot key.
func (n *Native) Stat(key string) (Info, error) {
	n.ix.mu.Lock()
	defer n.ix.mu.Unlock()
	r, err := n.ix.get(key)
	if err != nil {
		return Info{}, err
	}
	return r.info(), nil
}

// Walk calls fn for every snapshot in key order.
func (n *Native) Walk(fn func(Info) error) error { return n.ix.walk(fn) }

// Dir returns the tree of an active snapshot: whiteouts there are carried
// out (files deleted), since it is a full copy.
func (n *Native) Dir(key string) (string, archive.Whiteouts, error) {
	n.ix.mu.Lock()
	defer n.ix.mu.Unlock()
	r, err := n.ix.get(key)
	if err != nil {
		return "", 0, err
	}
	if r.Kind != KindActive {
		return "", 0, errdefs.Invalid("snapshot %s is not active", key)
	}
	return filepath.Join(n.ix.dir(r), "fs"), archive.WhiteoutApply, nil
}

// Usage returns the bytes in the snapshot's tree (a full copy).
func (n *Native) Usage(key string) (int64, error) {
	n.ix.mu.Lock()
	r, err := n.ix.get(key)
	var dir string
	if err == nil {
		dir = filepath.Join(n.ix.dir(r), "fs")
	}
	n.ix.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return diskUsage(dir)
}
