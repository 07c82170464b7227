package layers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ChangeKind is what happened to a path, numbered as Docker's API numbers
// the kinds of GET /containers/{id}/changes.
type ChangeKind uint8

const (
	ChangeModify ChangeKind = iota // "C"
	ChangeAdd                      // "A"
	ChangeDelete                   // "D"
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeModify:
		return "C"
	case ChangeAdd:
		return "A"
	case ChangeDelete:
		return "D"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one entry of a diff: an absolute path inside the root file
// system and what happened to it.
type Change struct {
	Path string
	Kind ChangeKind
}

// node is one entry of a diff, found by walking a snapshot's tree in the
// order archive.Tar writes it (depth first, names sorted in each
// directory).
type node struct {
	rel   string      // slash path from the root, no leading slash
	kind  ChangeKind  // a directory that only holds changes is a ChangeModify with same set
	path  string      // the entry in the snapshot's tree; for an overlay deletion its whiteout; "" for a deletion found by comparing copies
	fi    fs.FileInfo // of path
	lower fs.FileInfo // what the parent layers show at rel; nil for nothing

	dir    bool // a directory in the snapshot (never for a deletion)
	opaque bool // an overlay directory that hides what the parent layers hold in it
	same   bool // a directory as in the parent layers, there only for what it holds
	drop   bool // left out: an init-layer placeholder, or nothing to say
}

// overlayNodes walks an overlay upper directory. A whiteout (0/0
// character device) is a deletion, an opaque directory a deletion of the
// parent layers' one (and its entries additions); an entry the lower
// directories (top first) show is a change, else an addition. A directory
// copied up with its metadata unchanged is marked same.
func overlayNodes(ctx context.Context, upper string, lowers []string) ([]node, error) {
	ls := newLowerSet(lowers)
	var out []node
	// Directories below which the lowers show nothing (opaque, or not a
	// directory in the lowers): nothing in them is looked up there.
	bare := map[string]bool{}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n := node{rel: rel, path: p, fi: fi}
		if isWhiteout(fi) {
			n.kind = ChangeDelete
			out = append(out, n)
			return nil
		}
		n.dir = fi.IsDir()
		n.opaque = n.dir && isOpaque(p)
		if !n.opaque && !bare[path.Dir(rel)] {
			n.lower = ls.stat(rel)
		}
		if n.dir && (n.opaque || n.lower == nil || !n.lower.IsDir()) {
			bare[rel] = true
		}
		switch {
		case n.opaque:
			n.kind = ChangeDelete
		case n.lower == nil:
			n.kind = ChangeAdd
		default:
			n.kind = ChangeModify
			n.same = n.dir && n.lower.IsDir() && sameDir(fi, n.lower)
		}
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("diff of %s: %w", upper, err)
	}
	return out, nil
}

// lowerSet answers what the merged overlay lower directories show at a
// path, whiteouts and opaque directories taken into account.
type lowerSet struct {
	dirs   []string
	hiding []map[string]bool // per lower: does this directory hide lower ones' entries
}

func newLowerSet(dirs []string) *lowerSet {
	ls := &lowerSet{dirs: dirs, hiding: make([]map[string]bool, len(dirs))}
	for i := range dirs {
		ls.hiding[i] = map[string]bool{}
	}
	return ls
}

// stat returns the entry the lowers show at rel, nil when there is none.
func (ls *lowerSet) stat(rel string) fs.FileInfo {
	for i, d := range ls.dirs {
		fi, err := os.Lstat(filepath.Join(d, rel))
		if err == nil {
			if isWhiteout(fi) {
				return nil
			}
			return fi
		}
		if ls.hides(i, path.Dir(rel)) {
			return nil
		}
	}
	return nil
}

// hides reports whether lower i hides what the lowers below it hold under
// dir: an ancestor there is opaque, a whiteout or not a directory.
func (ls *lowerSet) hides(i int, dir string) bool {
	if dir == "." {
		return false
	}
	if h, ok := ls.hiding[i][dir]; ok {
		return h
	}
	h := false
	p := filepath.Join(ls.dirs[i], dir)
	if fi, err := os.Lstat(p); err == nil {
		h = !fi.IsDir() || isOpaque(p)
	}
	if !h {
		h = ls.hides(i, path.Dir(dir))
	}
	ls.hiding[i][dir] = h
	return h
}

// copyNodes compares a full copy (upper, the native driver's snapshot)
// with the tree it was copied from (lower, "" for none). A directory as
// in lower is listed, marked same, only when something below it changed.
func copyNodes(ctx context.Context, lower, upper string) ([]node, error) {
	var out []node
	if err := walkCopies(ctx, lower, upper, "", &out); err != nil {
		return nil, fmt.Errorf("diff of %s: %w", upper, err)
	}
	return out, nil
}

// walkCopies appends the nodes below the directory rel, which both trees
// hold (lower "": only upper does).
func walkCopies(ctx context.Context, lower, upper, rel string, out *[]node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	unames, err := readNames(filepath.Join(upper, rel))
	if err != nil {
		return err
	}
	var lnames []string
	if lower != "" {
		if lnames, err = readNames(filepath.Join(lower, rel)); err != nil {
			return err
		}
	}
	names := mergeSorted(unames, lnames)
	for _, name := range names {
		crel := path.Join(rel, name)
		up := filepath.Join(upper, crel)
		ufi, uerr := os.Lstat(up)
		if uerr != nil && !errors.Is(uerr, fs.ErrNotExist) {
			return uerr
		}
		var lfi fs.FileInfo
		if lower != "" {
			var lerr error
			lfi, lerr = os.Lstat(filepath.Join(lower, crel))
			if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
				return lerr
			}
		}
		switch {
		case ufi == nil:
			*out = append(*out, node{rel: crel, kind: ChangeDelete, lower: lfi})
		case lfi == nil:
			*out = append(*out, node{rel: crel, kind: ChangeAdd, path: up, fi: ufi, dir: ufi.IsDir()})
			if ufi.IsDir() {
				if err := walkCopies(ctx, "", upper, crel, out); err != nil {
					return err
				}
			}
		case ufi.IsDir() && lfi.IsDir():
			at := len(*out)
			same := sameEntry(up, filepath.Join(lower, crel), ufi, lfi)
			*out = append(*out, node{rel: crel, kind: ChangeModify, path: up, fi: ufi, lower: lfi, dir: true, same: same})
			if err := walkCopies(ctx, lower, upper, crel, out); err != nil {
				return err
			}
			if same && len(*out) == at+1 {
				*out = (*out)[:at] // nothing changed in there
			}
		case ufi.IsDir():
			// A file replaced by a directory: all in it is new.
			*out = append(*out, node{rel: crel, kind: ChangeModify, path: up, fi: ufi, lower: lfi, dir: true})
			if err := walkCopies(ctx, "", upper, crel, out); err != nil {
				return err
			}
		case lfi.IsDir() || !sameEntry(up, filepath.Join(lower, crel), ufi, lfi):
			*out = append(*out, node{rel: crel, kind: ChangeModify, path: up, fi: ufi, lower: lfi})
		}
	}
	return nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// mergeSorted returns the union of two sorted lists, sorted.
func mergeSorted(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// initPaths are the files a runtime creates in a root file system to
// mount over, which Docker keeps in a container's init layer.
var initPaths = map[string]bool{
	"etc/hosts": true, "etc/hostname": true, "etc/resolv.conf": true, "etc/mtab": true, ".dockerenv": true,
}

// initDirs are the directories a runtime mounts its own file systems on.
var initDirs = map[string]bool{"proc": true, "sys": true, "dev": true}

// prune marks what a diff leaves out (drop): what Docker keeps in a
// container's init layer — anything under /proc, /sys and /dev, and those
// directories and the files in initPaths when the parent layers lack them
// and they are what a runtime makes (empty) — then a directory that is
// there only to hold such placeholders, and a directory as in the parent
// layers with nothing left below it.
func prune(nodes []node) {
	index := make(map[string]int, len(nodes))
	for i, n := range nodes {
		index[n.rel] = i
	}
	kept := make([]bool, len(nodes))    // something below is in the diff
	skipped := make([]bool, len(nodes)) // a placeholder is below
	hasNodes := make([]bool, len(nodes))
	for i := len(nodes) - 1; i >= 0; i-- { // children before parents
		n := &nodes[i]
		skip := placeholder(n, hasNodes[i])
		if !skip && n.dir && !n.opaque && !kept[i] && skipped[i] && holder(n) {
			skip = true
		}
		n.drop = skip || (n.same && !kept[i])
		if p, ok := index[path.Dir(n.rel)]; ok {
			hasNodes[p] = true
			if !n.drop {
				kept[p] = true
			} else if skip || skipped[i] {
				skipped[p] = true
			}
		}
	}
}

// placeholder says whether n is something a runtime made to mount over;
// below says whether the diff holds anything below it.
func placeholder(n *node, below bool) bool {
	top, rest, _ := strings.Cut(n.rel, "/")
	if rest != "" && initDirs[top] {
		return true
	}
	if n.kind == ChangeDelete || n.lower != nil || n.opaque {
		return false
	}
	if initDirs[n.rel] {
		return n.dir
	}
	if !initPaths[n.rel] {
		return false
	}
	switch {
	case n.fi.Mode().IsRegular():
		return n.fi.Size() == 0
	case n.dir:
		return !below
	case n.fi.Mode()&fs.ModeSymlink != 0 && n.rel == "etc/mtab":
		target, _ := os.Readlink(n.path)
		return strings.HasPrefix(strings.TrimLeft(target, "./"), "proc/")
	}
	return false
}

// holder says whether directory n, below which only placeholders are,
// is there for them alone: new, or as in the parent layers but for the
// times that creating them moved.
func holder(n *node) bool {
	if n.lower == nil {
		return true
	}
	if !n.lower.IsDir() {
		return false
	}
	a, oka := n.fi.Sys().(*syscall.Stat_t)
	b, okb := n.lower.Sys().(*syscall.Stat_t)
	return n.fi.Mode() == n.lower.Mode() && oka && okb && a.Uid == b.Uid && a.Gid == b.Gid
}

// changesOf turns pruned nodes into Docker's change list: a directory
// that only holds changes is left out, but the parent of an addition or
// a deletion is reported changed.
func changesOf(nodes []node) []Change {
	out := []Change{}
	reported := map[string]bool{}
	for _, n := range nodes {
		if n.drop || n.same {
			continue
		}
		if n.dir {
			reported[n.rel] = true
		}
		if n.kind != ChangeModify {
			if parent := path.Dir(n.rel); parent != "." && !reported[parent] {
				out = append(out, Change{Path: "/" + parent, Kind: ChangeModify})
				reported[parent] = true
			}
		}
		out = append(out, Change{Path: "/" + n.rel, Kind: n.kind})
	}
	return out
}

// OverlayChanges lists the changes an overlay upper directory holds over
// its lower directories (top first), with Docker's rules (see
// Store.Changes).
func OverlayChanges(upper string, lowers []string) ([]Change, error) {
	nodes, err := overlayNodes(context.Background(), upper, lowers)
	if err != nil {
		return nil, err
	}
	prune(nodes)
	return changesOf(nodes), nil
}

// CopyChanges lists the changes of a full copy (upper) over the tree it
// was copied from (lower, "" for none), with Docker's rules (see
// Store.Changes).
func CopyChanges(lower, upper string) ([]Change, error) {
	nodes, err := copyNodes(context.Background(), lower, upper)
	if err != nil {
		return nil, err
	}
	prune(nodes)
	return changesOf(nodes), nil
}

// isWhiteout reports an overlay whiteout: a 0/0 character device.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

func isOpaque(p string) bool {
	val := make([]byte, 4)
	n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", val)
	return err == nil && string(val[:n]) == "y"
}

// sameDir compares two directories' own metadata, as Docker does.
func sameDir(a, b fs.FileInfo) bool {
	return a.Mode() == b.Mode() && a.Size() == b.Size() && a.ModTime().Unix() == b.ModTime().Unix()
}

// sameEntry compares two entries' metadata (and a symlink's target).
func sameEntry(pa, pb string, a, b fs.FileInfo) bool {
	if a.Mode() != b.Mode() || !a.ModTime().Equal(b.ModTime()) {
		return false
	}
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	if oka && okb && (sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Rdev != sb.Rdev) {
		return false
	}
	if a.IsDir() {
		return true
	}
	if a.Size() != b.Size() {
		return false
	}
	if a.Mode()&fs.ModeSymlink != 0 {
		la, _ := os.Readlink(pa)
		lb, _ := os.Readlink(pb)
		return la == lb
	}
	return true
}
