package xmgr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegistryAuth: a registry that wants basic auth. login checks the
// credentials through the daemon and keeps them in the client's config;
// pull then works from the X-Registry-Auth header alone (the daemon's own
// copy is removed first); a wrong password is refused with exit 1.
func TestRegistryAuth(t *testing.T) {
	reg := startRegistryAuth(t, "m4user", "m4-secret")
	ref := reg.pushImage(t, "m4/private:1", "private")
	e := newDaemon(t)

	if r := e.xmgr("pull", ref); r.code != 1 || !strings.Contains(strings.ToLower(r.err), "auth") {
		t.Errorf("pull without credentials:\n%s", r)
	}
	r := run(t, strings.NewReader("wrong\n"), []string{"XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG=" + e.config},
		xmgrBin, "-H", e.host, "login", "-u", "m4user", "--password-stdin", reg.host)
	if r.code != 1 || !strings.HasPrefix(r.err, "xmgr: ") {
		t.Errorf("login with a wrong password:\n%s", r)
	}
	r = run(t, strings.NewReader("m4-secret\n"), []string{"XMGR_NO_AUTOSTART=1", "DOCKER_CONFIG=" + e.config},
		xmgrBin, "-H", e.host, "login", "-u", "m4user", "--password-stdin", reg.host)
	if r.code != 0 || r.out != "Login Succeeded\n" {
		t.Fatalf("login:\n%s", r)
	}
	b, err := os.ReadFile(filepath.Join(e.config, "config.json"))
	if err != nil || !strings.Contains(string(b), reg.host) {
		t.Fatalf("client config after login: %s %v", b, err)
	}
	// Only the header can carry the credentials now.
	if err := os.RemoveAll(e.daemonConfig()); err != nil {
		t.Fatal(err)
	}
	e.ok("pull", ref)
	e.ok("rmi", ref)

	// Docker's CLI: its own login, then pull through the header.
	for _, bin := range dockerCLIs() {
		cfg := t.TempDir()
		env := []string{"DOCKER_HOST=" + e.host, "DOCKER_CONFIG=" + cfg}
		if r := run(t, strings.NewReader("m4-secret"), env, bin, "login", "-u", "m4user", "--password-stdin", reg.host); r.code != 0 {
			t.Fatalf("%s login:\n%s", bin, r)
		}
		os.RemoveAll(e.daemonConfig())
		if r := run(t, nil, env, bin, "pull", ref); r.code != 0 {
			t.Errorf("%s pull with credentials:\n%s", bin, r)
		}
		e.ok("rmi", ref)
	}

	if out := e.ok("logout", reg.host); out != "Removing login credentials for "+reg.host+"\n" {
		t.Errorf("logout: %q", out)
	}
	if r := e.xmgr("pull", ref); r.code != 1 {
		t.Errorf("pull after logout:\n%s", r)
	}
}
