package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/client"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// fakeImages is a test double of the backends: a map of images by name,
// recording what it was asked.
type fakeImages struct {
	mu          sync.Mutex
	images      map[string]*types.ImageInspect
	lastAll     bool
	lastF       types.Filters
	lastAuth    *types.AuthConfig
	pullErr     error // returned after writing one progress message
	early       error // returned before writing anything
	loaded      []string
	imported    []byte
	loadedBytes int
}

func newFake() *fakeImages {
	return &fakeImages{images: map[string]*types.ImageInspect{
		"busybox:latest":              {ID: "sha256:aaaa", RepoTags: []string{"busybox:latest"}},
		"localhost:5000/a/b:1":        {ID: "sha256:bbbb", RepoTags: []string{"localhost:5000/a/b:1"}},
		"sha256:aaaa":                 {ID: "sha256:aaaa"},
		"docker.io/library/busybox:1": {ID: "sha256:aaaa"},
	}}
}

func (f *fakeImages) get(name string) (*types.ImageInspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.images[name]; ok {
		return img, nil
	}
	return nil, errdefs.NotFound("No such image: %s", name)
}

func (f *fakeImages) Images(_ context.Context, all bool, fl types.Filters) ([]*types.ImageSummary, error) {
	f.lastAll, f.lastF = all, fl
	return []*types.ImageSummary{{ID: "sha256:aaaa", RepoTags: []string{"busybox:latest"}, Size: 42}}, nil
}
func (f *fakeImages) ImageInspect(_ context.Context, name string) (*types.ImageInspect, error) {
	return f.get(name)
}
func (f *fakeImages) ImageHistory(_ context.Context, name string) ([]*types.HistoryResponseItem, error) {
	if _, err := f.get(name); err != nil {
		return nil, err
	}
	return []*types.HistoryResponseItem{{ID: "sha256:aaaa", CreatedBy: "/bin/sh", Size: 1}}, nil
}
func (f *fakeImages) TagImage(_ context.Context, name, target string) error {
	img, err := f.get(name)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.images[target] = img
	f.mu.Unlock()
	return nil
}
func (f *fakeImages) ImageDelete(_ context.Context, name string, force, _ bool) ([]types.ImageDeleteResponseItem, error) {
	img, err := f.get(name)
	if err != nil {
		return nil, err
	}
	if !force && name == "sha256:aaaa" {
		return nil, errdefs.Conflict("conflict: unable to delete aaaa (must be forced)")
	}
	return []types.ImageDeleteResponseItem{{Untagged: name}, {Deleted: img.ID}}, nil
}
func (f *fakeImages) ImagesPrune(_ context.Context, fl types.Filters) (*types.ImagesPruneReport, error) {
	f.lastF = fl
	return &types.ImagesPruneReport{SpaceReclaimed: 7}, nil
}
func (f *fakeImages) ExportImages(_ context.Context, names []string, format string, w io.Writer) error {
	for _, n := range names {
		if _, err := f.get(n); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "tar(%s,%s)", strings.Join(names, ","), format)
	return err
}
func (f *fakeImages) LoadImages(_ context.Context, r io.Reader, out io.Writer) ([]string, error) {
	// Progress goes out before the body is read, as a real load does.
	if out != nil {
		fmt.Fprintln(out, `{"status":"Loading"}`)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f.loadedBytes = len(b)
	if string(b) == "bad" {
		return nil, errdefs.Invalid("not a docker archive")
	}
	if out != nil {
		fmt.Fprintln(out, `{"status":"Loading layer","id":"abc"}`)
	}
	return f.loaded, nil
}
func (f *fakeImages) ImportImage(_ context.Context, src io.Reader, ref, msg string, changes []string, _ string) (string, error) {
	f.imported, _ = io.ReadAll(src)
	return "sha256:cccc", nil
}
func (f *fakeImages) SystemDiskUsage(context.Context) (*types.DiskUsage, error) {
	return &types.DiskUsage{LayersSize: 5}, nil
}
func (f *fakeImages) PullImage(_ context.Context, ref, _ string, auth *types.AuthConfig, out io.Writer) (string, error) {
	f.lastAuth = auth
	if f.early != nil {
		return "", f.early
	}
	fmt.Fprintf(out, "{\"status\":\"Pulling from %s\"}\n", ref)
	if f.pullErr != nil {
		return "", f.pullErr
	}
	return "sha256:aaaa", nil
}
func (f *fakeImages) PushImage(_ context.Context, ref string, auth *types.AuthConfig, out io.Writer) error {
	f.lastAuth = auth
	_, err := f.get(ref)
	return err
}
func (f *fakeImages) Login(_ context.Context, auth *types.AuthConfig) (string, string, error) {
	if auth.Password != "secret" {
		return "", "", fmt.Errorf("login to %s: %w", auth.ServerAddress, errdefs.ErrUnauthorized)
	}
	return "Login Succeeded", "", nil
}

func start(t *testing.T) (*fakeImages, *client.Client, *Server, string) {
	t.Helper()
	f := newFake()
	s := New(Config{Images: f, Registry: f})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Events().Close)
	c, err := client.New("tcp://" + strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return f, c, s, ts.URL
}

func TestVersionedPaths(t *testing.T) {
	_, _, _, url := start(t)
	tests := []struct {
		method, path string
		status       int
		msg          string
	}{
		{"GET", "/_ping", 200, ""},
		{"HEAD", "/_ping", 200, ""},
		{"GET", "/v1.41/_ping", 200, ""},
		{"GET", "/version", 200, ""},
		{"GET", "/v1.24/version", 200, ""},
		{"GET", "/v1.50/version", 400, "client version 1.50 is too new. Maximum supported API version is 1.41"},
		{"GET", "/v1.12/images/json", 400, "client version 1.12 is too old"},
		{"GET", "/v1.41/nothing/here", 404, "page not found"},
		{"GET", "/containers/json", 501, "not implemented"},
		{"GET", "/containers/json/x/y", 404, "page not found"},
		{"POST", "/images/json", 404, "page not found"},
		{"GET", "/v1.41/images/localhost:5000/a/b:1/json", 200, ""},
		{"GET", "/images/nosuch/json", 404, "No such image: nosuch"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, url+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tt.method, tt.path, resp.StatusCode, tt.status, b)
		}
		if resp.Header.Get("Api-Version") != "1.41" {
			t.Errorf("%s %s: Api-Version %q", tt.method, tt.path, resp.Header.Get("Api-Version"))
		}
		if tt.msg != "" {
			var er types.ErrorResponse
			if err := json.Unmarshal(b, &er); err != nil || !strings.Contains(er.Message, tt.msg) {
				t.Errorf("%s %s: body %s, want message containing %q", tt.method, tt.path, b, tt.msg)
			}
		}
	}
}

func TestPingHeaders(t *testing.T) {
	_, c, _, _ := start(t)
	p, err := c.Ping(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != "1.41" || p.OSType != "linux" || p.Experimental {
		t.Errorf("ping = %+v", p)
	}
}

func TestImageListFilters(t *testing.T) {
	f, c, _, url := start(t)
	ctx := context.Background()
	fl := types.NewFilters()
	fl.Add("dangling", "true")
	fl.Add("label", "a=b")
	list, err := c.ImageList(ctx, true, fl)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Size != 42 || !f.lastAll {
		t.Errorf("list = %+v all=%v", list, f.lastAll)
	}
	if got := f.lastF.Get("label"); len(got) != 1 || got[0] != "a=b" {
		t.Errorf("filters reached the backend as %v", f.lastF)
	}
	// The older list form of the filters parameter.
	resp, err := http.Get(url + `/images/json?filters={"reference":["busybox"]}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || f.lastF.Get("reference")[0] != "busybox" {
		t.Errorf("list form: status %d, filters %v", resp.StatusCode, f.lastF)
	}
	bad := types.NewFilters()
	bad.Add("colour", "red")
	if _, err := c.ImageList(ctx, false, bad); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "invalid filter 'colour'") {
		t.Errorf("bad filter: %v", err)
	}
}

func TestTagDeleteAndEvents(t *testing.T) {
	_, c, s, _ := start(t)
	ctx := context.Background()
	past, ch, cancel := s.Events().Subscribe(time.Time{})
	defer cancel()
	if len(past) != 0 {
		t.Fatalf("past events with zero since: %v", past)
	}
	if err := c.ImageTag(ctx, "busybox:latest", "localhost:5000/x:2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ImageInspect(ctx, "localhost:5000/x:2"); err != nil {
		t.Fatalf("tagged image: %v", err)
	}
	if ev := <-ch; ev.Action != "tag" || ev.Actor.ID != "sha256:aaaa" || ev.Actor.Attributes["name"] != "localhost:5000/x:2" {
		t.Errorf("tag event = %+v", ev)
	}
	if err := c.ImageTag(ctx, "nosuch", "x:1"); !errdefs.IsNotFound(err) {
		t.Errorf("tag of a missing image: %v", err)
	}
	if _, err := c.ImageRemove(ctx, "sha256:aaaa", false, false); !errdefs.IsConflict(err) {
		t.Errorf("remove without force: %v, want conflict", err)
	}
	items, err := c.ImageRemove(ctx, "busybox:latest", false, false)
	if err != nil || len(items) != 2 || items[0].Untagged != "busybox:latest" || items[1].Deleted != "sha256:aaaa" {
		t.Fatalf("remove = %+v, %v", items, err)
	}
	if ev := <-ch; ev.Action != "untag" {
		t.Errorf("event = %+v, want untag", ev)
	}
	if ev := <-ch; ev.Action != "delete" || ev.Actor.ID != "sha256:aaaa" {
		t.Errorf("event = %+v, want delete", ev)
	}
}

func TestPullStream(t *testing.T) {
	f, c, _, _ := start(t)
	ctx := context.Background()
	auth := &types.AuthConfig{Username: "u", Password: "p", ServerAddress: "localhost:5000"}
	rc, err := c.ImagePull(ctx, "localhost:5000/a/b:1", "", auth)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []types.JSONMessage
	if err := client.ReadMessages(rc, func(m types.JSONMessage) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if len(msgs) != 1 || msgs[0].Status != "Pulling from localhost:5000/a/b:1" {
		t.Errorf("messages = %+v", msgs)
	}
	if f.lastAuth == nil || *f.lastAuth != *auth {
		t.Errorf("auth reached the backend as %+v", f.lastAuth)
	}

	// A failure after the stream started arrives in the stream.
	f.pullErr = errors.New("registry went away")
	rc, err = c.ImagePull(ctx, "busybox", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = client.ReadMessages(rc, nil)
	rc.Close()
	if err == nil || err.Error() != "registry went away" {
		t.Errorf("mid-stream error = %v", err)
	}
	if f.lastAuth != nil {
		t.Errorf("no header should mean nil auth, got %+v", f.lastAuth)
	}

	// A failure before anything was written is an HTTP error status.
	f.early = errdefs.Invalid("invalid reference format")
	if _, err := c.ImagePull(ctx, "UPPER", "", nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("early error = %v, want invalid argument", err)
	}
}

func TestDigestPullQuery(t *testing.T) {
	tests := []struct{ repo, tag, want string }{
		{"busybox", "", "busybox"},
		{"busybox", "1.36", "busybox:1.36"},
		{"busybox", "sha256:abcd", "busybox@sha256:abcd"},
	}
	for _, tt := range tests {
		if got := joinRef(tt.repo, tt.tag); got != tt.want {
			t.Errorf("joinRef(%q,%q) = %q, want %q", tt.repo, tt.tag, got, tt.want)
		}
	}
}

func TestLoadSaveImport(t *testing.T) {
	f, c, _, _ := start(t)
	ctx := context.Background()
	f.loaded = []string{"busybox:latest", "sha256:dddd"}
	rc, err := c.ImageLoad(ctx, strings.NewReader("tar"), false)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	err = client.ReadMessages(rc, func(m types.JSONMessage) { lines = append(lines, m.Status+m.Stream) })
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Loading", "Loading layer", "Loaded image: busybox:latest\n", "Loaded image ID: sha256:dddd\n"}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("load messages = %q, want %q", lines, want)
	}
	// A body far larger than any buffer still arrives whole while the
	// answer is being written.
	big := bytes.Repeat([]byte("x"), 8<<20)
	rc, err = c.ImageLoad(ctx, bytes.NewReader(big), false)
	if err != nil {
		t.Fatal(err)
	}
	err = client.ReadMessages(rc, nil)
	rc.Close()
	if err != nil || f.loadedBytes != len(big) {
		t.Errorf("big load: read %d of %d bytes (%v)", f.loadedBytes, len(big), err)
	}
	rc, err = c.ImageLoad(ctx, strings.NewReader("tar"), true)
	if err != nil {
		t.Fatal(err)
	}
	lines = nil
	_ = client.ReadMessages(rc, func(m types.JSONMessage) { lines = append(lines, m.Status+m.Stream) })
	rc.Close()
	if len(lines) != 2 {
		t.Errorf("quiet load printed progress: %q", lines)
	}
	rc, err = c.ImageLoad(ctx, strings.NewReader("bad"), false)
	if err == nil {
		err = client.ReadMessages(rc, nil)
		rc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "not a docker archive") {
		t.Errorf("bad load: %v", err)
	}
	if _, err := c.ImageLoad(ctx, strings.NewReader("bad"), true); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad quiet load: %v, want an error status", err)
	}

	rc, err = c.ImageSave(ctx, []string{"busybox:latest", "localhost:5000/a/b:1"}, "oci")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "tar(busybox:latest,localhost:5000/a/b:1,oci)" {
		t.Errorf("save = %q", b)
	}
	if _, err := c.ImageSave(ctx, []string{"nosuch"}, ""); !errdefs.IsNotFound(err) {
		t.Errorf("save of a missing image: %v", err)
	}

	rc, err = c.ImageImport(ctx, bytes.NewReader([]byte("rootfs")), client.ImportOptions{Ref: "imp:1", Changes: []string{"CMD [\"sh\"]"}})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	err = client.ReadMessages(rc, func(m types.JSONMessage) { id = m.Status })
	rc.Close()
	if err != nil || id != "sha256:cccc" || string(f.imported) != "rootfs" {
		t.Errorf("import: id %q imported %q err %v", id, f.imported, err)
	}
}

func TestAuth(t *testing.T) {
	_, c, _, _ := start(t)
	ctx := context.Background()
	ok, err := c.RegistryLogin(ctx, types.AuthConfig{Username: "u", Password: "secret", ServerAddress: "localhost:5000"})
	if err != nil || ok.Status != "Login Succeeded" {
		t.Errorf("login = %+v, %v", ok, err)
	}
	if _, err := c.RegistryLogin(ctx, types.AuthConfig{Username: "u", Password: "no"}); !errdefs.IsUnauthorized(err) {
		t.Errorf("bad login: %v, want unauthorized", err)
	}
}

func TestEventsEndpoint(t *testing.T) {
	_, c, s, _ := start(t)
	ctx := context.Background()
	s.Events().Publish("image", "pull", "busybox:latest", map[string]string{"name": "busybox:latest"})
	s.Events().Publish("image", "delete", "sha256:aaaa", nil)
	f := types.NewFilters()
	f.Add("event", "pull")
	rc, err := c.Events(ctx, client.EventsOptions{Since: "0.000000001", Until: fmt.Sprint(time.Now().Unix() + 1), Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	var got []types.EventMessage
	for {
		var m types.EventMessage
		if err := dec.Decode(&m); err != nil {
			break
		}
		got = append(got, m)
	}
	if len(got) != 1 || got[0].Action != "pull" || got[0].Status != "pull" || got[0].ID != "busybox:latest" {
		t.Errorf("events = %+v", got)
	}
}

func TestNoBackend(t *testing.T) {
	ts := httptest.NewServer(New(Config{}))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/images/json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("status %d, want 501", resp.StatusCode)
	}
}

func TestRegistryAuthHeader(t *testing.T) {
	ac := types.AuthConfig{Username: "u", Password: "p"}
	tests := []struct {
		header string
		want   *types.AuthConfig
	}{
		{"", nil},
		{client.EncodeAuth(ac), &ac},
		{strings.TrimRight(client.EncodeAuth(ac), "="), &ac},
		{"e30=", nil}, // {}: what docker sends without credentials
		{"!!!", nil},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/images/create", nil)
		if tt.header != "" {
			r.Header.Set("X-Registry-Auth", tt.header)
		}
		got := registryAuth(r)
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("registryAuth(%q) = %+v, want %+v", tt.header, got, tt.want)
		}
	}
}

func TestJSONNotHTMLEscaped(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, types.ImageSummary{RepoTags: []string{"<none>:<none>"}})
	if !strings.Contains(rec.Body.String(), `"RepoTags":["<none>:<none>"]`) {
		t.Errorf("body %s", rec.Body.String())
	}
}
