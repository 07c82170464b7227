package xmgr

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// slowReader hands out a blob in small pieces with a pause between them,
// so that a pull is still running when the test kills the daemon.
type slowReader struct {
	r       io.ReadCloser
	started *atomic.Bool
}

func (s *slowReader) Read(p []byte) (int, error) {
	s.started.Store(true)
	time.Sleep(20 * time.Millisecond)
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	return s.r.Read(p)
}

func (s *slowReader) Close() error { return s.r.Close() }

// slowProxy is a registry front that slows down blob downloads.
func slowProxy(t *testing.T, upstream string) (host string, blobStarted *atomic.Bool) {
	t.Helper()
	u, _ := url.Parse("http://" + upstream)
	started := &atomic.Bool{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/") && resp.ContentLength > 1<<20 {
			resp.Body = &slowReader{r: resp.Body, started: started}
		}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), started
}

// TestKillMidPull: kill -9 of the daemon while a layer is downloading;
// the next start removes the partial download and snapshot, no image is
// visible, and the pull then succeeds.
func TestKillMidPull(t *testing.T) {
	reg := startRegistry(t)
	reg.pushImage(t, "m4/crash:1", "crash")
	proxy, started := slowProxy(t, reg.host)
	ref := proxy + "/m4/crash:1"
	e := newDaemon(t)

	cmd := exec.Command(xmgrBin, "-H", e.host, "pull", ref)
	cmd.Env = append(os.Environ(), "XMGR_NO_AUTOSTART=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; !started.Load(); i++ {
		if i > 3000 {
			t.Fatal("the pull never started downloading the big layer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // some bytes on disk
	e.kill()
	_ = cmd.Wait() // the CLI fails: its daemon went away
	t.Logf("left by the kill: %v", leftovers(e.data))

	e.start()
	for _, p := range leftovers(e.data) {
		if strings.HasPrefix(p, "content/ingest/") || strings.HasSuffix(p, "/diff") {
			t.Errorf("left after the restart: %s", p)
		}
	}
	if q := e.ok("images", "-aq"); q != "" {
		t.Errorf("an image is visible after the killed pull: %q", q)
	}
	if out := e.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Size}}"); !strings.HasPrefix(out, "Images 0 0B\n") {
		t.Errorf("layers left after the killed pull:\n%s", out)
	}
	e.ok("pull", "-q", ref)
	if q := e.ok("images", "-q"); len(strings.TrimSpace(q)) != 12 {
		t.Errorf("images after the second pull: %q", q)
	}
}

// leftovers lists the files under the content ingest and snapshot dirs.
func leftovers(data string) []string {
	var out []string
	for _, d := range []string{filepath.Join(data, "content", "ingest"), filepath.Join(data, "snapshots")} {
		_ = filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
			if err == nil && p != d {
				rel, _ := filepath.Rel(data, p)
				out = append(out, rel)
			}
			return nil
		})
	}
	return out
}

// TestGracefulShutdown: SIGTERM while a pull runs and a client follows
// /events. The pull in flight finishes (and its image is there after a
// restart), the events follower is let go, and the daemon exits.
func TestGracefulShutdown(t *testing.T) {
	reg := startRegistry(t)
	reg.pushImage(t, "m4/graceful:1", "graceful")
	proxy, started := slowProxy(t, reg.host)
	ref := proxy + "/m4/graceful:1"
	e := newDaemon(t)

	follower := exec.Command(xmgrBin, "-H", e.host, "events")
	follower.Env = append(os.Environ(), "XMGR_NO_AUTOSTART=1")
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	pull := exec.Command(xmgrBin, "-H", e.host, "pull", "-q", ref)
	pull.Env = append(os.Environ(), "XMGR_NO_AUTOSTART=1")
	var pullOut strings.Builder
	pull.Stdout, pull.Stderr = &pullOut, &pullOut
	if err := pull.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; !started.Load(); i++ {
		if i > 3000 {
			t.Fatal("the pull never started downloading the big layer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.stop() // SIGTERM, waits for the daemon to exit
	if err := pull.Wait(); err != nil {
		t.Errorf("the pull in flight failed at shutdown: %v\n%s", err, pullOut.String())
	}
	if err := follower.Wait(); err != nil {
		t.Errorf("the events follower: %v", err)
	}
	e.start()
	if q := e.ok("images", "-q"); len(strings.TrimSpace(q)) != 12 {
		t.Errorf("the image pulled during shutdown is missing: %q", q)
	}
}
