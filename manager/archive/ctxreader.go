package archive

import (
	"context"
	"io"
)

// ContextReader stops reading r once ctx ends: a stream being unpacked
// (a layer, a build context) is given up when its request is.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return &ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
