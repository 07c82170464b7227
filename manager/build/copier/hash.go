package copier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"lukechampine.com/blake3"
)

// checksumItem answers "file:<hex>" or "dir:<hex>" for one item, a bare
// "<hex>" for a download.
func checksumItem(ctx context.Context, src Source, it *item) (string, error) {
	if it.url != "" {
		// A download is named for its file name and made 0600; its mtime
		// (from Last-Modified) is left out, as Docker's tarsum does.
		p := it.full
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		// Docker writes a download's sum bare: "ADD <hex> in /dst ".
		return entrySum(Source{}, it.base, p, "", fi, false)
	}
	if !it.dir {
		fi, err := os.Lstat(it.full)
		if err != nil {
			return "", err
		}
		s, err := entrySum(src, it.name, it.full, it.rel, fi, !src.Context)
		if err != nil {
			return "", err
		}
		return "file:" + s, nil
	}
	var sums []string
	err := filepath.WalkDir(it.full, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sub, err := filepath.Rel(it.full, p)
		if err != nil {
			return err
		}
		sub = filepath.ToSlash(sub)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		s, err := entrySum(src, path.Join(it.name, sub), p, path.Join(it.rel, sub), fi, !src.Context)
		if err != nil {
			return err
		}
		sums = append(sums, s)
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(sums)
	return hashStrings("dir", sums), nil
}

// entrySum hashes what of one file ends up in the layer: its name, type,
// mode, size, link target, device numbers, content and, when withOwner,
// its owner. Not its times.
func entrySum(src Source, name, p, rel string, fi os.FileInfo, withOwner bool) (string, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("stat %s: no system information", name)
	}
	h := sha256.New()
	fmt.Fprintf(h, "name=%s\x00type=%o\x00mode=%o\x00", name, st.Mode&syscall.S_IFMT, st.Mode&07777)
	if withOwner {
		fmt.Fprintf(h, "owner=%d:%d\x00", st.Uid, st.Gid)
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		sum, err := contentSum(src, p, rel)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "size=%d\x00content=%s\x00", st.Size, sum)
	case syscall.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "link=%s\x00", target)
	case syscall.S_IFCHR, syscall.S_IFBLK:
		fmt.Fprintf(h, "rdev=%d\x00", st.Rdev)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// contentSum answers a regular file's content digest, from the context's
// precomputed sums when it has one.
func contentSum(src Source, p, rel string) (string, error) {
	if src.ContentSum != nil && rel != "" {
		if s, ok := src.ContentSum(rel); ok {
			return s, nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := blake3.New(32, nil)
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", rel, err)
	}
	return "blake3:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashStrings(prefix string, s []string) string {
	h := sha256.Sum256([]byte(strings.Join(s, ",")))
	return prefix + ":" + hex.EncodeToString(h[:])
}
