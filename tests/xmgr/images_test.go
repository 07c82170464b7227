package xmgr

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestImageCommands drives pull, images, inspect, history, tag, rmi, save,
// load, import, image prune and system df through the xmgr CLI.
func TestImageCommands(t *testing.T) {
	reg := startRegistry(t)
	ref := reg.pushImage(t, "m4/app:1", "one")
	e := newDaemon(t)

	out := e.ok("pull", ref)
	if !strings.HasSuffix(strings.TrimSpace(out), ref) {
		t.Errorf("pull should end with the full reference %s:\n%s", ref, out)
	}

	out = e.ok("images")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !regexp.MustCompile(`^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$`).MatchString(lines[0]) {
		t.Errorf("images header: %q", lines[0])
	}
	row := regexp.MustCompile(`^` + regexp.QuoteMeta(reg.host+"/m4/app") + `\s+1\s+([0-9a-f]{12})\s+2 hours ago\s+[0-9.]+[kM]B$`)
	if len(lines) != 2 || !row.MatchString(lines[1]) {
		t.Fatalf("images:\n%s", out)
	}
	short := row.FindStringSubmatch(lines[1])[1]

	id := strings.TrimSpace(e.ok("inspect", "--format", "{{.Id}}", ref))
	if !strings.HasPrefix(id, "sha256:"+short) {
		t.Errorf("inspect id %q does not match images' %q", id, short)
	}
	var insp []map[string]any
	if err := json.Unmarshal([]byte(e.ok("image", "inspect", short)), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("inspect JSON: %v", err)
	}
	cfg, _ := insp[0]["Config"].(map[string]any)
	if cmd, _ := json.Marshal(cfg["Cmd"]); string(cmd) != `["sh"]` || insp[0]["Os"] != "linux" {
		t.Errorf("inspect: Config.Cmd %s, Os %v", cmd, insp[0]["Os"])
	}
	if rootfs, _ := insp[0]["RootFS"].(map[string]any); len(rootfs["Layers"].([]any)) != 2 {
		t.Errorf("inspect RootFS: %v", insp[0]["RootFS"])
	}

	hist := e.ok("history", ref)
	if !strings.Contains(hist, "IMAGE") || !strings.Contains(hist, "CREATED BY") || strings.Count(strings.TrimSpace(hist), "\n") != 3 {
		t.Errorf("history:\n%s", hist)
	}
	if q := e.ok("history", "-q", "--no-trunc", ref); !strings.HasPrefix(q, id+"\n") {
		t.Errorf("history -q --no-trunc:\n%s", q)
	}

	e.ok("tag", ref, "m4-local:v2")
	out = e.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
	if !strings.Contains(out, "m4-local:v2\n") {
		t.Errorf("tagged image missing:\n%s", out)
	}
	if q := e.ok("images", "-q"); strings.Count(q, short) != 2 {
		t.Errorf("images -q lists one row per tag:\n%s", q)
	}
	if f := e.ok("images", "--filter", "reference=m4-local", "--format", "{{.Tag}}"); f != "v2\n" {
		t.Errorf("reference filter: %q", f)
	}
	if f := e.ok("images", "--filter", "label=m4=one", "-q"); strings.Count(f, short) != 2 {
		t.Errorf("label filter: %q", f)
	}
	if f := e.ok("images", "--filter", "dangling=true", "-q"); f != "" {
		t.Errorf("dangling filter: %q", f)
	}

	// save, remove, load back.
	tarPath := filepath.Join(e.dir, "save.tar")
	e.ok("save", "-o", tarPath, "m4-local:v2")
	if fi, err := os.Stat(tarPath); err != nil || fi.Size() < 1000 {
		t.Fatalf("saved archive: %v", err)
	}
	if out := e.ok("rmi", "m4-local:v2"); out != "Untagged: m4-local:v2\n" {
		t.Errorf("rmi of one of two tags: %q", out)
	}
	out = e.ok("rmi", ref)
	if !strings.Contains(out, "Untagged: "+ref) || !strings.Contains(out, "Deleted: "+id) {
		t.Errorf("rmi of the last tag:\n%s", out)
	}
	if q := e.ok("images", "-q"); q != "" {
		t.Errorf("images after rmi: %q", q)
	}
	if out := e.ok("load", "-i", tarPath); !strings.Contains(out, "Loaded image: m4-local:v2") {
		t.Errorf("load:\n%s", out)
	}
	if got := strings.TrimSpace(e.ok("inspect", "-f", "{{.Id}}", "m4-local:v2")); got != id {
		t.Errorf("loaded image id %s, want %s", got, id)
	}

	// import a rootfs tar with changes.
	rootfs := filepath.Join(e.dir, "rootfs.tar")
	r := run(t, nil, nil, "tar", "-C", "/", "-cf", rootfs, "bin/busybox")
	if r.code != 0 {
		t.Fatalf("tar: %s", r)
	}
	impID := strings.TrimSpace(e.ok("import", "-c", "CMD [\"/bin/busybox\",\"true\"]", "-c", "ENV A=b", "-m", "from m4", rootfs, "m4-imported:1"))
	if !strings.HasPrefix(impID, "sha256:") {
		t.Fatalf("import printed %q", impID)
	}
	if got := e.ok("inspect", "-f", "{{json .Config.Cmd}} {{.Config.Env}} {{.Comment}}", "m4-imported:1"); got != `["/bin/busybox","true"] [A=b] from m4`+"\n" {
		t.Errorf("imported config: %q", got)
	}

	// The daemon fetches an import source given as a URL.
	srv := httptest.NewServer(http.FileServer(http.Dir(e.dir)))
	defer srv.Close()
	urlID := strings.TrimSpace(e.ok("import", srv.URL+"/rootfs.tar", "m4-url:1"))
	if got := strings.TrimSpace(e.ok("inspect", "-f", "{{.Id}}", "m4-url:1")); !strings.HasPrefix(urlID, "sha256:") || got != urlID {
		t.Errorf("import from a URL: printed %q, inspect %q", urlID, got)
	}
	if r := e.xmgr("import", srv.URL+"/missing.tar"); r.code != 1 || !strings.Contains(r.err, "404") {
		t.Errorf("import from a missing URL:\n%s", r)
	}
	e.ok("rmi", "m4-url:1")

	df := e.ok("system", "df")
	if !regexp.MustCompile(`(?m)^Images\s+2\s+0\s+`).MatchString(df) {
		t.Errorf("system df:\n%s", df)
	}

	// An untagged image is dangling; prune removes it.
	e.ok("rmi", "m4-imported:1")
	e.ok("import", rootfs)
	if q := e.ok("images", "--filter", "dangling=true", "-q"); len(strings.TrimSpace(q)) != 12 {
		t.Fatalf("dangling images: %q", q)
	}
	if out := e.ok("image", "prune", "-f"); !strings.Contains(out, "deleted: sha256:") || !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("prune:\n%s", out)
	}
	if q := e.ok("images", "--filter", "dangling=true", "-q"); q != "" {
		t.Errorf("dangling after prune: %q", q)
	}

	ev := e.ok("events", "--since", "0", "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "type=image", "--format", "{{.Action}}")
	for _, want := range []string{"pull", "tag", "save", "untag", "delete", "load", "import"} {
		if !strings.Contains(ev, want+"\n") {
			t.Errorf("events lack %q:\n%s", want, ev)
		}
	}
}

// TestErrors checks what a user sees for bad input: "xmgr: <message>" on
// stderr and a non-zero exit, and the daemon's JSON errors.
func TestErrors(t *testing.T) {
	e := newDaemon(t)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"inspect", "m4-nosuch"}, 1, "xmgr: Error: No such object: m4-nosuch"},
		{[]string{"rmi", "m4-nosuch"}, 1, "xmgr: No such image: m4-nosuch"},
		{[]string{"tag", "m4-nosuch", "x"}, 1, "xmgr: No such image: m4-nosuch"},
		{[]string{"pull", "m4:tag:bad"}, 1, "invalid reference format"},
		{[]string{"tag", "onlyone"}, 125, `"tag" requires exactly 2 arguments`},
		{[]string{"images", "--bogus"}, 125, "flag provided but not defined: -bogus"},
		{[]string{"images", "--filter", "colour=red"}, 1, "invalid filter 'colour'"},
		{[]string{"images", "--format", "{{.Nope"}, 1, "template"},
		{[]string{"load", "-i", "/nonexistent/m4.tar"}, 1, "no such file"},
	}
	for _, tt := range tests {
		r := e.xmgr(tt.args...)
		if r.code != tt.code || !strings.Contains(r.err, tt.msg) || !strings.HasPrefix(r.err, "xmgr: ") {
			t.Errorf("xmgr %v: want exit %d and %q:\n%s", tt.args, tt.code, tt.msg, r)
		}
	}
	bad := filepath.Join(e.dir, "bad.tar")
	if err := os.WriteFile(bad, []byte("this is not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.xmgr("load", "-i", bad); r.code != 1 || !strings.HasPrefix(r.err, "xmgr: ") {
		t.Errorf("load of garbage:\n%s", r)
	}
	if q := e.ok("images", "-aq"); q != "" {
		t.Errorf("a failed load left images: %q", q)
	}
	// No daemon on an explicit host: a clear error, no auto-start.
	r := run(t, nil, nil, xmgrBin, "-H", "unix://"+filepath.Join(e.dir, "none.sock"), "images")
	if r.code != 1 || !strings.Contains(r.err, "cannot connect to the xmgr daemon") {
		t.Errorf("no daemon:\n%s", r)
	}
}

// TestSaveLoadWithDockerArchive: a docker-save archive written by xmgr
// loads into another xmgr daemon (and the OCI layout format too).
func TestSaveLoadFormats(t *testing.T) {
	reg := startRegistry(t)
	ref := reg.pushImage(t, "m4/fmt:1", "fmt")
	a := newDaemon(t)
	b := newDaemon(t)
	a.ok("pull", "-q", ref)
	id := strings.TrimSpace(a.ok("inspect", "-f", "{{.Id}}", ref))
	for _, format := range []string{"docker", "oci"} {
		p := filepath.Join(a.dir, format+".tar")
		a.ok("save", "--format", format, "-o", p, ref)
		out := b.ok("load", "-i", p)
		if !strings.Contains(out, "Loaded image") {
			t.Errorf("%s load:\n%s", format, out)
		}
		if got := strings.TrimSpace(b.ok("inspect", "-f", "{{.Id}}", id)); got != id {
			t.Errorf("%s: loaded id %s, want %s", format, got, id)
		}
		b.ok("rmi", "-f", id)
	}
	if r := a.xmgr("save", "-o", filepath.Join(a.dir, "x.tar"), "m4-nosuch"); r.code != 1 {
		t.Errorf("save of a missing image:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(a.dir, "x.tar")); err == nil {
		t.Error("a failed save left its output file")
	}
}
