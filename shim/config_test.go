package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"10k", 10 << 10, false},
		{"10m", 10 << 20, false},
		{"2G", 2 << 30, false},
		{"3mb", 3 << 20, false},
		{"", 0, true},
		{"-1", 0, true},
		{"1t", 0, true},
		{"m", 0, true},
	}
	for _, tc := range cases {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc": true, "a.b-c_d+e": true, "0": true,
		"": false, ".": false, "..": false, "a/b": false, "a b": false, `a"b`: false, "é": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v", id, got)
		}
	}
}

// TestValidate covers the checks the shim makes before touching anything.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	must(t, os.MkdirAll(bundle, 0o755))
	must(t, os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o644))
	runtime := filepath.Join(dir, "runtime")
	must(t, os.WriteFile(runtime, []byte("#!/bin/sh\n"), 0o755))
	plain := filepath.Join(dir, "plain")
	must(t, os.WriteFile(plain, nil, 0o644))
	good := Config{ID: "c1", Bundle: bundle, Runtime: runtime, StateDir: filepath.Join(dir, "state"),
		LogPath: filepath.Join(dir, "c.log")}
	cases := []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" for none
	}{
		{"good", func(*Config) {}, ""},
		{"bad id", func(c *Config) { c.ID = "a/b" }, "invalid container id"},
		{"no bundle", func(c *Config) { c.Bundle = "" }, "--bundle is required"},
		{"no config.json", func(c *Config) { c.Bundle = dir }, "bundle " + dir + " is not valid: no such file"},
		{"runtime missing", func(c *Config) { c.Runtime = "/nonexistent/rt" }, "runtime /nonexistent/rt: no such file or directory"},
		{"runtime not executable", func(c *Config) { c.Runtime = plain }, "runtime " + plain + ": not executable"},
		{"runtime a directory", func(c *Config) { c.Runtime = dir }, "not a regular file"},
		{"runtime not in PATH", func(c *Config) { c.Runtime = "no-such-runtime-xyz" }, `runtime "no-such-runtime-xyz" not found`},
		{"log dir missing", func(c *Config) { c.LogPath = "/nonexistent/d/c.log" }, "log directory /nonexistent/d: no such file"},
		{"log dir a file", func(c *Config) { c.LogPath = filepath.Join(plain, "c.log") }, "is not a directory"},
		{"state dir too deep", func(c *Config) { c.StateDir = "/" + strings.Repeat("d", 120) }, "too long for a unix socket path"},
		{"negative size", func(c *Config) { c.LogMaxSize = -1 }, "must not be negative"},
	}
	for _, tc := range cases {
		c := good
		tc.edit(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if tc.want == "" && c.ExitTimeout != DefaultExitTimeout {
			t.Errorf("%s: exit timeout %v", tc.name, c.ExitTimeout)
		}
	}
	if _, err := os.Stat(good.StateDir); !os.IsNotExist(err) {
		t.Errorf("Validate created the state dir (%v)", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDaemonEnv(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"PATH=/bin"}, []string{"PATH=/bin", "GOGC=25", "GOMAXPROCS=1"}},
		{[]string{"GOGC=100"}, []string{"GOGC=100", "GOMAXPROCS=1"}},
		{[]string{"GOMAXPROCS=2", "GOGC=off"}, []string{"GOMAXPROCS=2", "GOGC=off"}},
		{[]string{"GOGCX=1"}, []string{"GOGCX=1", "GOGC=25", "GOMAXPROCS=1"}},
	}
	for _, tc := range cases {
		if got := DaemonEnv(tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("DaemonEnv(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
