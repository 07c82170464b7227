package xmgr

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerStyleFlags runs the command lines users copy from Docker's
// docs, with flags after the arguments (cobra takes them anywhere), and
// checks load's exact output: "Loaded image: x" with no empty line.
func TestDockerStyleFlags(t *testing.T) {
	e := newDaemon(t)
	rootfs := filepath.Join(e.dir, "rootfs.tar")
	if r := run(t, nil, nil, "tar", "-C", "/", "-cf", rootfs, "bin/busybox"); r.code != 0 {
		t.Fatalf("tar: %s", r)
	}

	id := strings.TrimSpace(e.ok("import", rootfs, "m5/flags:1", "-m", "from m5", "-c", `CMD ["/bin/busybox","true"]`))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q", id)
	}
	if got := e.ok("inspect", "m5/flags:1", "-f", "{{.Comment}} {{json .Config.Cmd}}"); got != `from m5 ["/bin/busybox","true"]`+"\n" {
		t.Errorf("inspect after import with trailing flags: %q", got)
	}
	short := strings.TrimPrefix(id, "sha256:")[:12]
	if q := e.ok("images", "m5/flags", "-q"); q != short+"\n" {
		t.Errorf("images m5/flags -q = %q, want %q", q, short+"\n")
	}
	if q := e.ok("image", "ls", "m5/flags", "--quiet", "--no-trunc"); q != id+"\n" {
		t.Errorf("image ls m5/flags --quiet --no-trunc = %q", q)
	}
	if f := e.ok("images", "m5/flags", "--format", "{{.Repository}}:{{.Tag}}"); f != "m5/flags:1\n" {
		t.Errorf("images with --format after the name: %q", f)
	}
	e.ok("tag", "m5/flags:1", "m5/flags:2")

	tarPath := filepath.Join(e.dir, "flags.tar")
	e.ok("save", "m5/flags:1", "-o", tarPath)
	if fi, err := os.Stat(tarPath); err != nil || fi.Size() < 1000 {
		t.Fatalf("save with -o last wrote nothing: %v", err)
	}
	if out := e.ok("rmi", "m5/flags:2", "m5/flags:1", "-f"); !strings.Contains(out, "Untagged: m5/flags:1") || !strings.Contains(out, "Deleted: "+id) {
		t.Errorf("rmi x -f:\n%s", out)
	}

	// load prints exactly one line per image, as docker.
	if out := e.ok("load", "-i", tarPath); out != "Loaded image: m5/flags:1\n" {
		t.Errorf("load printed %q", out)
	}
	e.ok("rmi", "m5/flags:1")
	r := run(t, bytes.NewReader(mustRead(t, tarPath)), []string{"XMGR_NO_AUTOSTART=1"}, xmgrBin, "-H", e.host, "load", "-q")
	if r.code != 0 || r.out != "Loaded image: m5/flags:1\n" {
		t.Errorf("load -q from stdin:\n%s", r)
	}

	// "--" ends the flags: what follows is an argument even with a dash.
	if r := e.xmgr("rmi", "-f", "--", "-m5bad"); r.code == 0 || !strings.Contains(r.err, "-m5bad") {
		t.Errorf("rmi -f -- -m5bad:\n%s", r)
	}
	// A flag the command lacks is still a usage error, wherever it is.
	if r := e.xmgr("images", "m5/flags", "--m5-bogus"); r.code != 125 || !strings.Contains(r.err, "m5-bogus") {
		t.Errorf("unknown flag after an argument:\n%s", r)
	}
}

// TestEarlyFailuresNoPanic: loads and imports that fail before reading
// their whole input (not a tar, a bad --change, garbage on stdin) answer
// the error, and the daemon never logs net/http's "invalid concurrent
// Body.Read call" panic (golang/go#68560); it keeps serving.
func TestEarlyFailuresNoPanic(t *testing.T) {
	e := newDaemon(t)
	garbage := bytes.Repeat([]byte("m5 not a tar archive "), 3000)
	for _, args := range [][]string{
		{"load"},
		{"load", "-q"},
		{"import", "-", "m5/bad:1"},
		{"import", "-c", "ONBUILD x", "-", "m5/bad:2"},
	} {
		r := run(t, bytes.NewReader(garbage), []string{"XMGR_NO_AUTOSTART=1"}, xmgrBin, append([]string{"-H", e.host}, args...)...)
		if r.code != 1 || !strings.HasPrefix(r.err, "xmgr: ") {
			t.Errorf("%v with garbage: want exit 1 and an error:\n%s", args, r)
		}
		e.ok("version") // still serving
	}
	e.stop()
	log, err := os.ReadFile(filepath.Join(e.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`panic|concurrent Body.Read`).Match(log) {
		t.Errorf("daemon log:\n%s", tail(string(log), 4000))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
