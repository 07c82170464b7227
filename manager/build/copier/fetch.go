package copier

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// fetch downloads an ADD URL into a temporary directory (removed by
// cleanupItems) and names it as Docker does: the URL path's last element,
// else the Content-Disposition file name.
func fetch(ctx context.Context, it *item) error {
	if it.tmpDir != "" {
		return nil
	}
	u, err := url.Parse(it.url)
	if err != nil {
		return errdefs.Invalid("invalid URL %q: %v", it.url, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, it.url, nil)
	if err != nil {
		return errdefs.Invalid("invalid URL %q: %v", it.url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return errdefs.Unavailable("failed to GET %s: %v", it.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errdefs.Unavailable("failed to GET %s with status %s", it.url, resp.Status)
	}
	dir, err := os.MkdirTemp("", "xmgr-add-")
	if err != nil {
		return err
	}
	it.tmpDir = dir
	it.full = filepath.Join(dir, "body")
	f, err := os.OpenFile(it.full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("failed to GET %s: reading the body: %w", it.url, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	it.base = downloadName(u.Path, resp.Header.Get("Content-Disposition"))
	// Without Last-Modified Docker dates the file at the epoch.
	it.lastMod = time.Unix(0, 0)
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			it.lastMod = t
		}
	}
	return nil
}

// downloadName is the file name of a download ("" when none).
func downloadName(urlPath, disposition string) string {
	if urlPath != "" && !strings.HasSuffix(urlPath, "/") {
		if n := saneName(path.Base(urlPath)); n != "" {
			return n
		}
	}
	if disposition != "" {
		if _, params, err := mime.ParseMediaType(disposition); err == nil {
			if fn := params["filename"]; fn != "" && !strings.HasSuffix(fn, "/") {
				return saneName(path.Base(fn))
			}
		}
	}
	return ""
}

func saneName(n string) string {
	if n == "." || n == ".." || n == "/" || strings.Contains(n, "/") {
		return ""
	}
	return n
}
