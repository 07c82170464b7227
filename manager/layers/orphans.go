package layers

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// removeOrphan removes the committed snapshot of the layer chainID after
// its record could not be written (a full disk, say): without a record no
// image or GC would ever name it. The overlay driver lets a layer be
// unpacked before its parent is done, so a temp snapshot on top of this
// one may hold it (ErrConflict); the removal is then retried each time an
// Apply ends, until nothing holds it. A crash in between leaves it to
// Cleanup at the next start.
func (s *Store) removeOrphan(chainID digest.Digest) {
	err := s.sn.Remove(chainID.String())
	if err == nil || errdefs.IsNotFound(err) {
		return
	}
	s.mu.Lock()
	if s.orphans == nil {
		s.orphans = map[digest.Digest]struct{}{}
	}
	s.orphans[chainID] = struct{}{}
	s.mu.Unlock()
}

// dropOrphansLocked retries the removals removeOrphan could not do. s.mu
// is held, so no Apply of an orphan's chain ID can start meanwhile.
func (s *Store) dropOrphansLocked() {
	for c := range s.orphans {
		if _, busy := s.inflight[c]; busy {
			continue // being applied again: it may adopt the snapshot
		}
		// A record means a later Apply found the snapshot committed and
		// adopted it: it is a layer now, not an orphan.
		var rec *metadata.Layer
		s.db.View(context.Background(), func(tx *metadata.Tx) error {
			rec, _ = tx.GetLayer(c)
			return nil
		})
		if rec != nil {
			delete(s.orphans, c)
			continue
		}
		if err := s.sn.Remove(c.String()); err == nil || errdefs.IsNotFound(err) {
			delete(s.orphans, c)
		}
	}
}
