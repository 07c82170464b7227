package snapshots

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// record is what a driver keeps about one snapshot, in <root>/<id>/meta.json.
// The file is written last when a snapshot is made and replaced atomically
// on commit, so a directory without one is an interrupted Prepare.
type record struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"`
	Parent  string    `json:"parent,omitempty"`
	Kind    Kind      `json:"kind"`
	Created time.Time `json:"created"`
	Link    string    `json:"link,omitempty"` // overlay: short name in l/
}

func (r *record) info() Info {
	return Info{Key: r.Key, Parent: r.Parent, Kind: r.Kind, Created: r.Created}
}

// index holds the records of a driver in memory, loaded once at start.
type index struct {
	root  string
	mu    sync.Mutex
	byKey map[string]*record
}

const (
	metaFile     = "meta.json"
	removingName = ".removing-"
)

// loadIndex reads every record under root and removes what an interrupted
// Prepare or Remove left behind. skip names entries of root that are not
// snapshots (overlay's l/).
func loadIndex(root string, skip ...string) (*index, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	ix := &index{root: root, byKey: map[string]*record{}}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
next:
	for _, e := range ents {
		for _, s := range skip {
			if e.Name() == s {
				continue next
			}
		}
		p := filepath.Join(root, e.Name())
		b, err := os.ReadFile(filepath.Join(p, metaFile))
		if errors.Is(err, fs.ErrNotExist) || strings.HasPrefix(e.Name(), removingName) {
			if err := removeTree(p); err != nil {
				return nil, fmt.Errorf("snapshots: clean up %s: %w", p, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("snapshots: %w", err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("snapshots: %s: %w", p, err)
		}
		if r.ID != e.Name() {
			return nil, fmt.Errorf("snapshots: %s: record names id %q", p, r.ID)
		}
		ix.byKey[r.Key] = &r
	}
	return ix, nil
}

func (ix *index) dir(r *record) string { return filepath.Join(ix.root, r.ID) }

// get returns the record of key; the caller holds mu.
func (ix *index) get(key string) (*record, error) {
	r, ok := ix.byKey[key]
	if !ok {
		return nil, errdefs.NotFound("snapshot %s: not found", key)
	}
	return r, nil
}

// checkNew validates a new key and its parent; the caller holds mu.
func (ix *index) checkNew(key, parent string, needParent bool) error {
	if key == "" {
		return errdefs.Invalid("snapshot key is empty")
	}
	if _, ok := ix.byKey[key]; ok {
		return fmt.Errorf("snapshot %s: %w", key, errdefs.ErrAlreadyExists)
	}
	if parent == "" || !needParent {
		return nil
	}
	// The whole chain: an unlinked layer's ancestors may be missing.
	if _, err := ix.chain(parent); err != nil {
		return fmt.Errorf("snapshot %s: %w", key, err)
	}
	return nil
}

// save writes r's meta.json atomically and durably.
func (ix *index) save(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	dir := ix.dir(r)
	tmp := filepath.Join(dir, metaFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, metaFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

// children returns the keys of snapshots whose parent is key; the caller
// holds mu.
func (ix *index) children(key string) []string {
	var out []string
	for _, r := range ix.byKey {
		if r.Parent == key {
			out = append(out, r.Key)
		}
	}
	sort.Strings(out)
	return out
}

// chain returns the committed records from key's parent down to the base;
// the caller holds mu.
func (ix *index) chain(parent string) ([]*record, error) {
	var out []*record
	for p := parent; p != ""; {
		r, ok := ix.byKey[p]
		if !ok {
			return nil, errdefs.NotFound("snapshot parent %s: not found", p)
		}
		if r.Kind != KindCommitted {
			return nil, errdefs.Invalid("snapshot parent %s is not committed", p)
		}
		out = append(out, r)
		p = r.Parent
		if len(out) > 1000 {
			return nil, fmt.Errorf("snapshot parent chain of %s loops", parent)
		}
	}
	return out, nil
}

func (ix *index) walk(fn func(Info) error) error {
	ix.mu.Lock()
	infos := make([]Info, 0, len(ix.byKey))
	for _, r := range ix.byKey {
		infos = append(infos, r.info())
	}
	ix.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, i := range infos {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// removeTree removes p and all below it, never following a symlink out.
func removeTree(p string) error {
	return os.RemoveAll(p)
}
