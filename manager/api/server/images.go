package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := types.ParseFilters(q.Get("filters"))
	if err == nil {
		err = f.Validate("dangling", "reference", "before", "since", "label")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// The `filter` parameter of API < 1.28 is a reference pattern.
	if old := q.Get("filter"); old != "" {
		f.Add("reference", old)
	}
	list, err := s.cfg.Images.Images(r.Context(), boolValue(r, "all"), f)
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []*types.ImageSummary{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request) {
	img, err := s.cfg.Images.ImageInspect(r.Context(), nameOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, img)
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request) {
	h, err := s.cfg.Images.ImageHistory(r.Context(), nameOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	if h == nil {
		h = []*types.HistoryResponseItem{}
	}
	writeJSON(w, http.StatusOK, h)
}

// imageTag answers POST /images/{name}/tag?repo=&tag= with 201.
func (s *Server) imageTag(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	repo, tag := q.Get("repo"), q.Get("tag")
	if repo == "" {
		writeError(w, errdefs.Invalid("repository name must be given (repo parameter)"))
		return
	}
	target := repo
	if tag != "" {
		target += ":" + tag
	}
	ctx := r.Context()
	if err := s.cfg.Images.TagImage(ctx, nameOf(r), target); err != nil {
		writeError(w, err)
		return
	}
	id := nameOf(r)
	if img, err := s.cfg.Images.ImageInspect(ctx, target); err == nil {
		id = img.ID
	}
	s.events.Publish(types.ImageEventType, "tag", id, map[string]string{"name": target})
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) imageDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := nameOf(r)
	id := name
	if img, err := s.cfg.Images.ImageInspect(ctx, name); err == nil {
		id = img.ID
	}
	items, err := s.cfg.Images.ImageDelete(ctx, name, boolValue(r, "force"), boolValue(r, "noprune"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.publishDeletes(id, items)
	if items == nil {
		items = []types.ImageDeleteResponseItem{}
	}
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) publishDeletes(id string, items []types.ImageDeleteResponseItem) {
	for _, it := range items {
		if it.Untagged != "" {
			s.events.Publish(types.ImageEventType, "untag", id, map[string]string{"name": it.Untagged})
		}
		// Deleted also lists the image's layers; Docker's events name
		// only images. A prune (id "") cannot tell them apart here and
		// reports every deletion.
		if it.Deleted != "" && (it.Deleted == id || id == "") {
			s.events.Publish(types.ImageEventType, "delete", it.Deleted, map[string]string{"name": it.Deleted})
		}
	}
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.Validate("dangling", "until", "label", "label!")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := s.cfg.Images.ImagesPrune(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	s.publishDeletes("", rep.ImagesDeleted)
	if rep.ImagesDeleted == nil {
		rep.ImagesDeleted = []types.ImageDeleteResponseItem{}
	}
	s.events.Publish("image", "prune", "", map[string]string{"reclaimed": fmt.Sprint(rep.SpaceReclaimed)})
	writeJSON(w, http.StatusOK, rep)
}

// imageSave answers GET /images/get?names=... and /images/{name}/get
// with a tar. A failure mid-way aborts the connection: the client sees a
// truncated transfer, never a tar that looks complete.
func (s *Server) imageSave(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	names := q["names"]
	if n := nameOf(r); n != "" {
		names = []string{n}
	}
	if len(names) == 0 {
		writeError(w, errdefs.Invalid("no image names given (names parameter)"))
		return
	}
	out := newStream(w, "application/x-tar")
	err := s.cfg.Images.ExportImages(r.Context(), names, q.Get("format"), out)
	if err != nil && out.started {
		s.log.Error("save failed mid-stream", "images", names, "err", err)
		panic(http.ErrAbortHandler)
	}
	out.finish(err)
	if err == nil {
		for _, n := range names {
			s.events.Publish(types.ImageEventType, "save", n, map[string]string{"name": n})
		}
	}
}

// imageLoad answers POST /images/load with a JSON stream: layer progress
// unless quiet, then one "Loaded image: " line per image.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) {
	defer fullDuplex(w, r)()
	out := newStream(w, "application/json")
	var progress io.Writer
	if !boolValue(r, "quiet") {
		progress = out
	}
	loaded, err := s.cfg.Images.LoadImages(r.Context(), r.Body, progress)
	for _, l := range loaded {
		line := "Loaded image: " + l + "\n"
		if strings.HasPrefix(l, "sha256:") {
			line = "Loaded image ID: " + l + "\n"
		}
		out.message(types.JSONMessage{Stream: line})
		s.events.Publish(types.ImageEventType, "load", l, map[string]string{"name": l})
	}
	out.finish(err)
}

// imageCreate is POST /images/create: a pull (fromImage) or an import
// (fromSrc: "-" for the request body, or a URL).
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx := r.Context()
	switch {
	case q.Get("fromImage") != "":
		if s.cfg.Registry == nil {
			writeJSON(w, http.StatusNotImplemented, types.ErrorResponse{Message: errNotImplemented.Error()})
			return
		}
		ref := joinRef(q.Get("fromImage"), q.Get("tag"))
		auth := registryAuth(r)
		out := newStream(w, "application/json")
		_, err := s.cfg.Registry.PullImage(ctx, ref, q.Get("platform"), auth, out)
		if err == nil {
			s.events.Publish(types.ImageEventType, "pull", ref, map[string]string{"name": ref})
		}
		out.finish(err)
	case q.Get("fromSrc") != "":
		if s.cfg.Images == nil {
			writeJSON(w, http.StatusNotImplemented, types.ErrorResponse{Message: errNotImplemented.Error()})
			return
		}
		defer fullDuplex(w, r)()
		src := io.Reader(r.Body)
		if from := q.Get("fromSrc"); from != "-" {
			resp, err := fetch(r, from)
			if err != nil {
				writeError(w, err)
				return
			}
			defer resp.Body.Close()
			src = resp.Body
		}
		ref := ""
		if repo := q.Get("repo"); repo != "" {
			ref = joinRef(repo, q.Get("tag"))
		}
		out := newStream(w, "application/json")
		id, err := s.cfg.Images.ImportImage(ctx, src, ref, q.Get("message"), q["changes"], q.Get("platform"))
		if err == nil {
			out.message(types.JSONMessage{Status: id})
			s.events.Publish(types.ImageEventType, "import", id, map[string]string{"name": ref})
		}
		out.finish(err)
	default:
		writeError(w, errdefs.Invalid("fromImage or fromSrc must be given"))
	}
}

// fullDuplex lets a handler write progress while it still reads the
// request body (a load or import tar). Without it Go's HTTP/1 server
// discards the unread body at the first write.
//
// The returned func must run before the handler returns (defer it): it
// closes the body, which reads what the backend left unread (up to
// net/http's 256 KiB limit) while the handler still owns the connection.
// Left to the server, that read happens after the handler, in
// finishRequest: reaching the body's end there starts the connection's
// background read after the server already aborted it, and its wait for
// the next request then panics with "invalid concurrent Body.Read call"
// (golang/go#68560) whenever a load or import failed before reading its
// whole body. Closing also makes a reader the backend left running get
// an error instead of touching the connection later.
func fullDuplex(w http.ResponseWriter, r *http.Request) (done func()) {
	_ = http.NewResponseController(w).EnableFullDuplex()
	return func() { _ = r.Body.Close() }
}

// fetch gets an import source given as a URL.
func fetch(r *http.Request, u string) (*http.Response, error) {
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, errdefs.Invalid("import source %q: want - or an http(s) URL", u)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
	if err != nil {
		return nil, errdefs.Invalid("import source %q: %v", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errdefs.Unavailable("import source %q: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errdefs.Unavailable("import source %q: %s", u, resp.Status)
	}
	return resp, nil
}

func (s *Server) imagePush(w http.ResponseWriter, r *http.Request) {
	ref := joinRef(nameOf(r), r.URL.Query().Get("tag"))
	out := newStream(w, "application/json")
	err := s.cfg.Registry.PushImage(r.Context(), ref, registryAuth(r), out)
	if err == nil {
		s.events.Publish(types.ImageEventType, "push", ref, map[string]string{"name": ref})
	}
	out.finish(err)
}

// joinRef puts a tag or digest parameter onto a repository name, as
// Docker's clients split them: fromImage=busybox&tag=1.36 or
// tag=sha256:....
func joinRef(repo, tag string) string {
	if tag == "" {
		return repo
	}
	if strings.Contains(tag, ":") {
		return repo + "@" + tag
	}
	return repo + ":" + tag
}

// registryAuth decodes the X-Registry-Auth header: base64 (URL alphabet,
// padding optional; standard alphabet accepted too) of a JSON AuthConfig.
// A header that does not decode is ignored, as dockerd does.
func registryAuth(r *http.Request) *types.AuthConfig {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		b, err := enc.DecodeString(h)
		if err != nil {
			continue
		}
		var ac types.AuthConfig
		if json.Unmarshal(b, &ac) == nil {
			if ac == (types.AuthConfig{}) {
				return nil
			}
			return &ac
		}
	}
	return nil
}
