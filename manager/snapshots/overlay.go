package snapshots

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Overlay is the overlayfs driver, laid out like Docker's overlay2:
//
//	<root>/<id>/diff       the snapshot's own files (an overlay upper, later a lower)
//	<root>/<id>/work       overlay's work directory (active snapshots)
//	<root>/<id>/meta.json  key, parent, kind, link
//	<root>/l/<LINK>        -> ../<id>/diff: a short name for each committed snapshot
//
// Lower directories are named through l/, so a mount of N layers needs about
// 13*N bytes of options once made relative to l/ (see Mount.Mount): 128
// layers fit in a page with room to spare.
type Overlay struct {
	ix   *index
	root string
	// Options the kernel knows (its overlay module has the parameter),
	// set off whatever its defaults: index (the same lowers serve many
	// mounts), and on writable mounts redirect_dir and metacopy, so that
	// an upper directory stays a plain diff that Tar can turn into a layer.
	indexOff, redirectOff, metacopyOff bool
}

const linkDir = "l"

// NewOverlay opens (creating when missing) an overlay driver at root and
// finishes or undoes what a crash interrupted.
func NewOverlay(root string) (*Overlay, error) {
	if err := os.MkdirAll(filepath.Join(root, linkDir), 0o700); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	ix, err := loadIndex(root, linkDir)
	if err != nil {
		return nil, err
	}
	o := &Overlay{ix: ix, root: root}
	known := func(param string) bool {
		_, err := os.Stat("/sys/module/overlay/parameters/" + param)
		return err == nil
	}
	o.indexOff, o.redirectOff, o.metacopyOff = known("index"), known("redirect_dir"), known("metacopy")
	// Links whose snapshot is gone (a crash between link and record).
	links := map[string]bool{}
	for _, r := range ix.byKey {
		if r.Link != "" {
			links[r.Link] = true
		}
	}
	ents, err := os.ReadDir(filepath.Join(root, linkDir))
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	for _, e := range ents {
		if !links[e.Name()] {
			os.Remove(filepath.Join(root, linkDir, e.Name()))
		}
	}
	return o, nil
}

// OverlaySupported mounts a small overlay under dir (on the file system
// the snapshots will live on) and says why it failed, if it did.
func OverlaySupported(dir string) error {
	tmp, err := os.MkdirTemp(dir, ".check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"l1", "l2", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s:%s,upperdir=%s,workdir=%s",
		filepath.Join(tmp, "l2"), filepath.Join(tmp, "l1"), filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"))
	merged := filepath.Join(tmp, "merged")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlayfs cannot be mounted on %s: %w", dir, err)
	}
	return unix.Unmount(merged, unix.MNT_DETACH)
}

// Prepare makes an active snapshot on top of parent.
func (o *Overlay) Prepare(key, parent string) ([]Mount, error) {
	r, err := o.create(key, parent, KindActive, true)
	if err != nil {
		return nil, err
	}
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	return o.mounts(r)
}

// PrepareUnlinked makes an active snapshot whose parent may not exist yet.
func (o *Overlay) PrepareUnlinked(key, parent string) error {
	_, err := o.create(key, parent, KindActive, false)
	return err
}

// View makes a read-only snapshot of parent.
func (o *Overlay) View(key, parent string) ([]Mount, error) {
	r, err := o.create(key, parent, KindView, true)
	if err != nil {
		return nil, err
	}
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	return o.mounts(r)
}

func (o *Overlay) create(key, parent string, kind Kind, needParent bool) (*record, error) {
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	if err := o.ix.checkNew(key, parent, needParent); err != nil {
		return nil, err
	}
	r := &record{ID: newID(), Key: key, Parent: parent, Kind: kind, Created: time.Now().UTC()}
	dir := o.ix.dir(r)
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, "diff"), 0o755)
	}
	if err == nil && kind == KindActive {
		err = os.Mkdir(filepath.Join(dir, "work"), 0o700)
	}
	if err == nil {
		err = o.ix.save(r)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("snapshot %s: %w", key, err)
	}
	o.ix.byKey[key] = r
	return r, nil
}

// Mounts returns the mounts of an active snapshot or a view.
func (o *Overlay) Mounts(key string) ([]Mount, error) {
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	r, err := o.ix.get(key)
	if err != nil {
		return nil, err
	}
	return o.mounts(r)
}

// mounts builds r's mounts; the caller holds the index lock.
func (o *Overlay) mounts(r *record) ([]Mount, error) {
	if r.Kind == KindCommitted {
		return nil, errdefs.Invalid("snapshot %s is committed: make a view of it", r.Key)
	}
	chain, err := o.ix.chain(r.Parent)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", r.Key, err)
	}
	diff := filepath.Join(o.ix.dir(r), "diff")
	if r.Kind == KindView {
		switch len(chain) {
		case 0:
			return []Mount{{Type: "bind", Source: diff, Options: []string{"ro", "rbind"}}}, nil
		case 1:
			return []Mount{{Type: "bind", Source: filepath.Join(o.ix.dir(chain[0]), "diff"), Options: []string{"ro", "rbind"}}}, nil
		}
	} else if len(chain) == 0 {
		return []Mount{{Type: "bind", Source: diff, Options: []string{"rw", "rbind"}}}, nil
	}
	lowers := ""
	for i, c := range chain {
		if i > 0 {
			lowers += ":"
		}
		lowers += filepath.Join(o.root, linkDir, c.Link)
	}
	var opts []string
	if o.indexOff {
		opts = append(opts, "index=off")
	}
	if r.Kind == KindView {
		opts = append(opts, "ro", "lowerdir="+lowers)
	} else {
		if o.redirectOff {
			opts = append(opts, "redirect_dir=off")
		}
		if o.metacopyOff {
			opts = append(opts, "metacopy=off")
		}
		opts = append(opts, "lowerdir="+lowers, "upperdir="+diff, "workdir="+filepath.Join(o.ix.dir(r), "work"))
	}
	return []Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
}

// Commit turns the active snapshot key into the committed snapshot name.
func (o *Overlay) Commit(name, key string) error {
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	r, err := o.ix.get(key)
	if err != nil {
		return err
	}
	if r.Kind != KindActive {
		return errdefs.Invalid("snapshot %s is not active", key)
	}
	if err := o.ix.checkNew(name, "", false); err != nil {
		return err
	}
	link, err := o.newLink(r.ID)
	if err != nil {
		return fmt.Errorf("commit snapshot %s: %w", key, err)
	}
	c := *r
	c.Key, c.Kind, c.Link = name, KindCommitted, link
	if err := o.ix.save(&c); err != nil {
		os.Remove(filepath.Join(o.root, linkDir, link))
		return fmt.Errorf("commit snapshot %s: %w", key, err)
	}
	delete(o.ix.byKey, key)
	o.ix.byKey[name] = &c
	// Overlay's work directory is only needed while an upper.
	os.RemoveAll(filepath.Join(o.ix.dir(&c), "work"))
	return nil
}

var linkEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newLink makes l/<LINK> -> ../<id>/diff under a fresh short name.
func (o *Overlay) newLink(id string) (string, error) {
	for {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		link := linkEncoding.EncodeToString(b[:])[:12]
		err := os.Symlink(filepath.Join("..", id, "diff"), filepath.Join(o.root, linkDir, link))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return link, syncDir(filepath.Join(o.root, linkDir))
	}
}

// Remove deletes a snapshot.
func (o *Overlay) Remove(key string) error {
	gone, err := o.remove(key)
	if err != nil {
		return err
	}
	if err := removeTree(gone); err != nil {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	return nil
}

func (o *Overlay) remove(key string) (string, error) {
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	r, err := o.ix.get(key)
	if err != nil {
		return "", err
	}
	if kids := o.ix.children(key); len(kids) > 0 && r.Kind == KindCommitted {
		return "", errdefs.Conflict("snapshot %s is the parent of %s", key, kids[0])
	}
	gone := filepath.Join(o.root, removingName+r.ID)
	if err := os.Rename(o.ix.dir(r), gone); err != nil {
		return "", fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	delete(o.ix.byKey, key)
	if r.Link != "" {
		os.Remove(filepath.Join(o.root, linkDir, r.Link))
	}
	return gone, nil
}

// Stat describes the snapshot key.
func (o *Overlay) Stat(key string) (Info, error) {
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	r, err := o.ix.get(key)
	if err != nil {
		return Info{}, err
	}
	return r.info(), nil
}

// Walk calls fn for every snapshot in key order.
func (o *Overlay) Walk(fn func(Info) error) error { return o.ix.walk(fn) }

// Dir returns the upper directory of an active snapshot: overlay
// whiteouts go there as they are.
func (o *Overlay) Dir(key string) (string, archive.Whiteouts, error) {
	o.ix.mu.Lock()
	defer o.ix.mu.Unlock()
	r, err := o.ix.get(key)
	if err != nil {
		return "", 0, err
	}
	if r.Kind != KindActive {
		return "", 0, errdefs.Invalid("snapshot %s is not active", key)
	}
	return filepath.Join(o.ix.dir(r), "diff"), archive.WhiteoutOverlay, nil
}

// Usage returns the bytes in the snapshot's own diff directory.
func (o *Overlay) Usage(key string) (int64, error) {
	o.ix.mu.Lock()
	r, err := o.ix.get(key)
	var dir string
	if err == nil {
		dir = filepath.Join(o.ix.dir(r), "diff")
	}
	o.ix.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return diskUsage(dir)
}
