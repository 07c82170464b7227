package metadata

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Layer is an unpacked layer, keyed by its chain ID.
type Layer struct {
	ChainID       digest.Digest
	DiffID        digest.Digest
	Parent        digest.Digest // chain ID; "" for a base layer
	Blob          digest.Digest // compressed blob in the content store; may be ""
	BlobMediaType string
	BlobSize      int64
	Size          int64 // unpacked bytes
}

// PutLayer inserts or replaces a layer.
func (t *Tx) PutLayer(l *Layer) error {
	if err := l.ChainID.Validate(); err != nil {
		return errdefs.Invalid("layer chain id %q: %v", l.ChainID, err)
	}
	if err := l.DiffID.Validate(); err != nil {
		return errdefs.Invalid("layer %s: diff id %q: %v", l.ChainID, l.DiffID, err)
	}
	_, err := t.exec(`INSERT INTO layers (chain_id, diff_id, parent, blob, blob_media_type, blob_size, size)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(chain_id) DO UPDATE SET diff_id = excluded.diff_id, parent = excluded.parent,
			blob = excluded.blob, blob_media_type = excluded.blob_media_type,
			blob_size = excluded.blob_size, size = excluded.size`,
		l.ChainID.String(), l.DiffID.String(), l.Parent.String(), l.Blob.String(), l.BlobMediaType, l.BlobSize, l.Size)
	if err != nil {
		return fmt.Errorf("put layer %s: %w", l.ChainID, err)
	}
	return nil
}

const layerColumns = `chain_id, diff_id, parent, blob, blob_media_type, blob_size, size`

func scanLayer(row interface{ Scan(...any) error }) (*Layer, error) {
	var (
		l                         Layer
		chain, diff, parent, blob string
	)
	if err := row.Scan(&chain, &diff, &parent, &blob, &l.BlobMediaType, &l.BlobSize, &l.Size); err != nil {
		return nil, err
	}
	l.ChainID, l.DiffID, l.Parent, l.Blob = digest.Digest(chain), digest.Digest(diff), digest.Digest(parent), digest.Digest(blob)
	return &l, nil
}

// GetLayer returns the layer chainID.
func (t *Tx) GetLayer(chainID digest.Digest) (*Layer, error) {
	l, err := scanLayer(t.queryRow(`SELECT `+layerColumns+` FROM layers WHERE chain_id = ?`, chainID.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("layer %s: not found", chainID)
	}
	if err != nil {
		return nil, fmt.Errorf("get layer %s: %w", chainID, err)
	}
	return l, nil
}

// ListLayers returns every layer in chain ID order.
func (t *Tx) ListLayers() ([]*Layer, error) {
	rows, err := t.query(`SELECT ` + layerColumns + ` FROM layers ORDER BY chain_id`)
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	defer rows.Close()
	var out []*Layer
	for rows.Next() {
		l, err := scanLayer(rows)
		if err != nil {
			return nil, fmt.Errorf("list layers: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// LayerUsers returns the images that list the layer and the layers whose
// parent it is.
func (t *Tx) LayerUsers(chainID digest.Digest) (images []digest.Digest, children []digest.Digest, err error) {
	rows, err := t.query(`SELECT DISTINCT image_id FROM image_layers WHERE chain_id = ? ORDER BY image_id`, chainID.String())
	if err != nil {
		return nil, nil, fmt.Errorf("users of layer %s: %w", chainID, err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, nil, fmt.Errorf("users of layer %s: %w", chainID, err)
	}
	rows, err = t.query(`SELECT chain_id FROM layers WHERE parent = ? ORDER BY chain_id`, chainID.String())
	if err != nil {
		return nil, nil, fmt.Errorf("users of layer %s: %w", chainID, err)
	}
	kids, err := scanStrings(rows)
	if err != nil {
		return nil, nil, fmt.Errorf("users of layer %s: %w", chainID, err)
	}
	for _, s := range ids {
		images = append(images, digest.Digest(s))
	}
	for _, s := range kids {
		children = append(children, digest.Digest(s))
	}
	return images, children, nil
}

// DeleteLayer removes the layer chainID. It refuses (ErrConflict) while an
// image or a child layer uses it.
func (t *Tx) DeleteLayer(chainID digest.Digest) error {
	imgs, kids, err := t.LayerUsers(chainID)
	if err != nil {
		return err
	}
	if len(imgs) > 0 {
		return errdefs.Conflict("layer %s is used by image %s", chainID, imgs[0])
	}
	if len(kids) > 0 {
		return errdefs.Conflict("layer %s is the parent of layer %s", chainID, kids[0])
	}
	res, err := t.exec(`DELETE FROM layers WHERE chain_id = ?`, chainID.String())
	if err != nil {
		return fmt.Errorf("delete layer %s: %w", chainID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("layer %s: not found", chainID)
	}
	return nil
}
