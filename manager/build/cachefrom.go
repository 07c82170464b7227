package build

import (
	"fmt"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
)

// --cache-from, as Docker 20.10's classic builder has it (its ImageCache):
// the named images are cache sources, matched by their history. A step on
// image P with command C is taken from source S when P's history and
// layers start S's and S's next history entry was made by C: the step's
// image is S itself when that entry is S's last, else an image made of P
// plus that entry and its layer (the source's, already stored). With
// sources, a hit of the local cache counts only when it is an ancestor of
// one of them, so that what the sources hold decides.

// cacheFrom is the state of a build's cache sources.
type cacheFrom struct {
	all []*images.Image // resolved at the start of the build
	// sources are the candidates of stage: all of them at the start of
	// a stage, only one once a step was made from it (Docker keeps to
	// that source for the rest of the stage).
	stage   *stage
	sources []*images.Image
}

// resolveCacheFrom resolves the build's --cache-from names; nil without
// any. A name that does not resolve is skipped with a warning, as dockerd
// does. --no-cache looks nothing up, so it resolves nothing.
func (b *Builder) resolveCacheFrom(opts server.BuildOptions, o *output) *cacheFrom {
	if opts.NoCache || len(opts.CacheFrom) == 0 {
		return nil
	}
	cf := &cacheFrom{}
	for _, ref := range opts.CacheFrom {
		img, err := b.cfg.Images.Resolve(ref)
		if err != nil {
			b.cfg.Log.Warn("build: could not look up a --cache-from image, skipping", "image", ref, "err", err)
			o.printf("[Warning] Could not look up %s for cache resolution, skipping: %v\n", ref, err)
			continue
		}
		cf.all = append(cf.all, img)
	}
	return cf
}

// forStage returns the candidates for a step of st.
func (cf *cacheFrom) forStage(st *stage) []*images.Image {
	if cf.stage != st {
		cf.stage, cf.sources = st, cf.all
	}
	return cf.sources
}

// cached returns the image the cache holds for the step probe on the
// stage's image, nil for a miss.
func (bd *build) cached(st *stage, probe *types.ContainerConfig) (*images.Image, error) {
	is := bd.b.cfg.Images
	local, err := is.CacheGet(st.parentID(), cacheKey(probe))
	if errdefs.IsNotFound(err) {
		local, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	cf := bd.cacheFrom
	if cf == nil {
		return local, nil
	}
	sources := cf.forStage(st)
	if local != nil {
		for _, s := range sources {
			ok, err := is.IsAncestor(s.ID, local.ID)
			if err != nil {
				return nil, err
			}
			if ok {
				return local, nil
			}
		}
	}
	src, index, ok := matchSource(sources, st.image, strings.Join(probe.Cmd, " "))
	if !ok {
		return nil, nil
	}
	if index == len(src.Config.History)-1 {
		// The step's image is the source itself, now the child of the
		// stage's image.
		if st.image != nil {
			if err := is.SetParent(src.ID, st.image.ID); err != nil {
				return nil, fmt.Errorf("failed to set parent for %s to %s: %w", images.ShortID(src.ID), images.ShortID(st.image.ID), err)
			}
		}
		return is.Resolve(src.ID.String())
	}
	img, err := is.CommitCached(bd.ctx, st.image, src, index, imageConfigOf(probe))
	if err != nil {
		return nil, fmt.Errorf("failed to restore cached image from %s to %s: %w", st.shortID(), images.ShortID(src.ID), err)
	}
	cf.sources = []*images.Image{src}
	return img, nil
}

// matchSource returns the first source whose history continues cur's
// (nil: FROM scratch) with a step createdBy, and the index of that step's
// entry in the source's history.
func matchSource(sources []*images.Image, cur *images.Image, createdBy string) (src *images.Image, index int, ok bool) {
	var curLayers int
	if cur != nil {
		index, curLayers = len(cur.Config.History), len(cur.DiffIDs)
	}
	for _, s := range sources {
		if !continues(s, cur) || s.Config.History[index].CreatedBy != createdBy {
			continue
		}
		// The entry's layer must be the next one (Docker assumes it).
		layer, empty, ok := images.HistoryLayer(s, index)
		if !ok || !empty && layer != curLayers {
			continue
		}
		return s, index, true
	}
	return nil, 0, false
}

// continues reports whether src's history and layers strictly extend
// cur's (Docker's isValidParent). An image without history or layers
// starts every source, as scratch does.
func continues(src, cur *images.Image) bool {
	sh := src.Config.History
	if len(sh) == 0 {
		return false
	}
	if cur == nil {
		return true
	}
	ch := cur.Config.History
	if len(ch) == 0 && len(cur.DiffIDs) == 0 {
		return true
	}
	if len(ch) >= len(sh) || len(cur.DiffIDs) > len(src.DiffIDs) {
		return false
	}
	for i := range ch {
		if !sameHistory(ch[i], sh[i]) {
			return false
		}
	}
	for i, d := range cur.DiffIDs {
		if d != src.DiffIDs[i] {
			return false
		}
	}
	return true
}

// sameHistory compares two history entries field by field; times compare
// as instants.
func sameHistory(a, b ocispec.History) bool {
	return a.CreatedBy == b.CreatedBy && a.Author == b.Author && a.Comment == b.Comment &&
		a.EmptyLayer == b.EmptyLayer && createdOf(a).Equal(createdOf(b))
}

func createdOf(h ocispec.History) time.Time {
	if h.Created == nil {
		return time.Time{}
	}
	return *h.Created
}
