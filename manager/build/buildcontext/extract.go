package buildcontext

import (
	"archive/tar"
	"context"
	"encoding/hex"
	"hash"
	"io"
	"path"
	"strings"

	"lukechampine.com/blake3"

	"github.com/xrt-dev/xrt/manager/archive"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// extract unpacks the tar r into the existing directory root with the
// layer store's safe unpacker (nothing written outside root, no path
// through a symlink; ".wh." names are plain files here) and returns the
// BLAKE3 digest of every regular file by its slash path, taken in the
// same pass. BLAKE3: ten times sha256's speed on CPUs without SHA
// instructions (2 ms for 5 MB here, not 18), and it only keys our cache.
func extract(ctx context.Context, r io.Reader, root string) (map[string]string, error) {
	sums := map[string]string{}
	dirs := map[string]bool{}
	var (
		cur  hash.Hash
		name string
	)
	finish := func() {
		if cur != nil {
			sums[name] = "blake3:" + hex.EncodeToString(cur.Sum(nil))
			cur = nil
		}
	}
	er := archive.ContextReader(ctx, r)
	_, err := archive.ApplyWith(root, er, archive.Options{
		Whiteouts: archive.WhiteoutNone,
		Entry: func(rel string, hdr *tar.Header) io.Writer {
			finish()
			delete(sums, rel)
			if hdr.Typeflag == tar.TypeDir {
				dirs[rel] = true
			} else if dirs[rel] {
				// A directory replaced by a file: what it held is gone.
				delete(dirs, rel)
				for k := range sums {
					if strings.HasPrefix(k, rel+"/") {
						delete(sums, k)
					}
				}
			}
			switch hdr.Typeflag {
			case tar.TypeReg:
				cur, name = blake3.New(32, nil), rel
				return cur
			case tar.TypeLink:
				if s, ok := sums[cleanLink(hdr.Linkname)]; ok {
					sums[rel] = s
				}
			}
			return nil
		},
	})
	finish()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errdefs.Invalid("build context: %s", strings.ReplaceAll(err.Error(), "layer tar: ", ""))
	}
	return sums, nil
}

// cleanLink is a hardlink's target as the sums name it.
func cleanLink(name string) string {
	for len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	return path.Clean(name)
}
