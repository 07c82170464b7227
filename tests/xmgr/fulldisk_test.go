package xmgr

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPullFullDiskAPI pulls through the daemon onto a data root (a private
// tmpfs) too small for the image: the API's JSON progress stream ends with
// an error line that names the cause, no image or partial download is
// left, and after the disk grows the same daemon pulls the image.
// (tests/registry's TestPullFullDisk checks the store in detail.)
func TestPullFullDiskAPI(t *testing.T) {
	reg := startRegistry(t)
	reg.pushImage(t, "m6/full:1", "full") // busybox: about 1 MiB compressed, 2 MiB unpacked
	data := t.TempDir()
	if err := unix.Mount("tmpfs", data, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=2m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(data, 0); err != nil {
			t.Errorf("unmount %s: %v", data, err)
			unix.Unmount(data, unix.MNT_DETACH)
		}
	})
	e := newDaemon(t, "--data-root", data) // stopped before the unmount (cleanups run last first)

	sock := strings.TrimPrefix(e.host, "unix://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Post("http://xmgr/v1.41/images/create?fromImage="+reg.host+"/m6/full&tag=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type line struct {
		Status      string `json:"status"`
		Error       string `json:"error"`
		ErrorDetail struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
		Message string `json:"message"` // an error answered before the stream
	}
	var last line
	var n int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		last = line{}
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		n++
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%s), want 200 and a stream ending in an error", resp.StatusCode, last.Message)
	}
	if n < 2 || !strings.Contains(last.Error, "no space left on device") || last.ErrorDetail.Message != last.Error {
		t.Errorf("the stream (%d lines) ends with %+v, want an error line saying no space left on device", n, last)
	}
	t.Logf("stream ended with: %s", last.Error)
	if !strings.Contains(last.Error, data+"/") && !strings.Contains(last.Error, "layer tar: write ") {
		t.Errorf("the error %q does not name what was being written", last.Error)
	}

	if q := e.ok("images", "-aq"); q != "" {
		t.Errorf("an image is visible after the failed pull: %q", q)
	}
	for _, p := range leftovers(data) {
		if strings.HasPrefix(p, "content/ingest/") || strings.HasSuffix(p, "/diff") {
			t.Errorf("left after the failed pull: %s", p)
		}
	}
	if out := e.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Size}}"); !strings.HasPrefix(out, "Images 0 0B\n") {
		t.Errorf("layers left after the failed pull:\n%s", out)
	}

	if err := unix.Mount("tmpfs", data, "tmpfs", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, "size=64m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	e.ok("pull", "-q", reg.host+"/m6/full:1")
	if q := e.ok("images", "-q"); len(strings.TrimSpace(q)) != 12 {
		t.Errorf("images after the pull with room: %q", q)
	}
}
