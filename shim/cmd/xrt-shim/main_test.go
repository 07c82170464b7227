package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	c, err := parseArgs([]string{"--id", "c1", "--bundle=/b", "-state-dir", "/s", "--log-path", "/l",
		"--log-max-size", "10m", "--log-max-file=3", "--terminal", "--stdin=false", "--exit-timeout", "30s",
		"--runtime", "runc", "--runtime-root", "/r"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c1" || c.Bundle != "/b" || c.StateDir != "/s" || c.LogPath != "/l" || c.LogMaxSize != 10<<20 ||
		c.LogMaxFile != 3 || !c.Terminal || c.Stdin || c.ExitTimeout != 30*time.Second || c.Runtime != "runc" || c.RuntimeRoot != "/r" {
		t.Errorf("parsed %+v", c)
	}
	if c, _ := parseArgs(nil); c.LogMaxFile != 1 {
		t.Errorf("default max-file %d", c.LogMaxFile)
	}
	bad := []struct{ args, want string }{
		{"--nope 1", "unknown flag --nope"},
		{"--nope", "unknown flag --nope"},
		{"--id", "--id needs a value"},
		{"stray", `unexpected argument "stray"`},
		{"--log-max-size 1x", `--log-max-size: invalid value "1x"`},
		{"--exit-timeout 5", `--exit-timeout: invalid value "5"`},
		{"--terminal=maybe", "--terminal: not a boolean"},
	}
	for _, tc := range bad {
		_, err := parseArgs(strings.Fields(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseArgs([]string{"--help"}); err != errHelp {
		t.Errorf("--help: %v", err)
	}
}
