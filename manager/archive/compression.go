// Package archive reads and writes layer tar streams: it decompresses a
// layer blob (gzip, zstd, bzip2 or plain), applies the tar to a directory
// faithfully and safely, and writes a directory back as a tar.
package archive

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// Compression names a layer's compression, found by its first bytes.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
	Bzip2
	Xz
)

func (c Compression) String() string {
	return [...]string{"uncompressed", "gzip", "zstd", "bzip2", "xz"}[c]
}

// Detect names the compression of a stream from its first bytes.
func Detect(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return Gzip
	case bytes.HasPrefix(head, magicZstd):
		return Zstd
	case bytes.HasPrefix(head, magicBzip2):
		return Bzip2
	case bytes.HasPrefix(head, magicXz):
		return Xz
	}
	return Uncompressed
}

// Decompress returns the uncompressed stream of r, whatever of gzip (read
// with klauspost/pgzip, which inflates ahead on its own goroutine), zstd,
// bzip2 or nothing r is compressed with. Close releases the decoder; it
// does not close r.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read layer header: %w", err)
	}
	switch Detect(head) {
	case Gzip:
		// 1 MiB blocks, 4 ahead: enough to keep one core inflating
		// while the tar is applied on another.
		zr, err := pgzip.NewReaderN(br, 1<<20, 4)
		if err != nil {
			return nil, errdefs.Invalid("gzip layer: %v", err)
		}
		return zr, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, errdefs.Invalid("zstd layer: %v", err)
		}
		return zr.IOReadCloser(), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), nil
	case Xz:
		return nil, errdefs.Invalid("xz-compressed layers are not supported")
	}
	return io.NopCloser(br), nil
}
