package buildcontext

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// body is the request body made ready to read: decompressed, with what it
// holds (a tar, or a Dockerfile sent alone) found from its first bytes.
type body struct {
	r     *bufio.Reader
	isTar bool
	empty bool
	close func() error
}

// openBody decompresses r by its magic (gzip, zstd, bzip2, xz) and says
// whether what it holds is a tar.
func openBody(ctx context.Context, r io.Reader) (*body, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("build context: read: %w", err)
	}
	b := &body{close: func() error { return nil }}
	var dec io.Reader = br
	switch archive.Detect(head) {
	case archive.Gzip:
		zr, err := pgzip.NewReaderN(br, 512<<10, 4)
		if err != nil {
			return nil, errdefs.Invalid("build context: gzip: %v", err)
		}
		dec, b.close = zr, zr.Close
	case archive.Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, errdefs.Invalid("build context: zstd: %v", err)
		}
		dec, b.close = zr, func() error { zr.Close(); return nil }
	case archive.Bzip2:
		dec = bzip2.NewReader(br)
	case archive.Xz:
		// As Docker: through the xz binary, which no Go module we use reads.
		cmd := exec.CommandContext(ctx, "xz", "-d", "-c", "-q")
		cmd.Stdin = br
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, fmt.Errorf("build context: xz: %w", err)
		}
		if err := cmd.Start(); err != nil {
			return nil, errdefs.Invalid("build context: xz-compressed, and xz cannot run: %v", err)
		}
		dec = out
		b.close = func() error {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil
		}
	}
	b.r = bufio.NewReaderSize(dec, 64<<10)
	block, err := b.r.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		b.close()
		return nil, errdefs.Invalid("build context: %v", err)
	}
	b.empty = len(block) == 0
	b.isTar = isTarBlock(block)
	return b, nil
}

// isTarBlock says whether block is the first 512 bytes of a tar: an
// end-of-archive (all zero) block, or a header whose checksum is right.
func isTarBlock(block []byte) bool {
	if len(block) < 512 {
		return false
	}
	if bytes.Count(block, []byte{0}) == 512 {
		return true
	}
	field := bytes.Trim(block[148:156], " \x00")
	want, err := strconv.ParseInt(string(field), 8, 64)
	if err != nil || len(field) == 0 {
		return false
	}
	// The sum of all bytes with the checksum field read as spaces;
	// old tars summed signed bytes.
	var unsigned, signed int64
	for i, c := range block {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}
