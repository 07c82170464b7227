package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestUnknownContainer(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	notExist := regexp.MustCompile(`(?i)not exist|no such|not found`)
	for _, args := range [][]string{{"state"}, {"start"}, {"kill"}, {"kill", "--all"}, {"delete"}} {
		r := runXRT(t, runOpts{}, append(append([]string{"--root", root}, args...), "nope")...)
		if r.code == 0 || !notExist.MatchString(r.stderr) {
			t.Errorf("want a failure saying container nope does not exist, got %s", r)
		}
	}
	if r := runXRT(t, runOpts{}, "--root", root, "delete", "--force", "nope"); r.code != 0 {
		t.Errorf("delete --force of a container that does not exist must succeed: %s", r)
	}
}

// TestLogJSON checks the log file containerd reads to show why a create
// failed: one JSON object a line with level, msg and time.
func TestLogJSON(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "/bin/no-such-program")
	b.save()
	logFile := filepath.Join(t.TempDir(), "log.json")
	r := b.xrt("--log", logFile, "--log-format", "json", "create", "--bundle", b.dir, b.id)
	if r.code == 0 {
		t.Fatalf("create of a missing program succeeded: %s", r)
	}
	if !strings.Contains(r.stderr, "no-such-program") {
		t.Errorf("want the error on stderr too, got %s", r)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var line struct{ Level, Msg, Time string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Level == "" || line.Time == "" {
			t.Errorf("log line %q: want a JSON object with level, msg and time (%v)", sc.Text(), err)
			continue
		}
		found = found || (line.Level == "error" && strings.Contains(line.Msg, "no-such-program"))
	}
	if !found {
		t.Errorf("want an error line naming no-such-program in the log, got:\n%s", data)
	}
}
