package runc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJSONField(t *testing.T) {
	cases := []struct {
		line, key, want string
		ok              bool
	}{
		{`{"level":"error","msg":"container \"x\" does not exist","time":"t"}`, "msg", `container "x" does not exist`, true},
		{`{"msg":"a\nb\\c\u00e9"}`, "msg", "a\nb\\cé", true},
		{`{"level":"info"}`, "msg", "", false},
		{`{"msg":"unterminated`, "msg", "", false},
	}
	for _, tc := range cases {
		got, ok := JSONField([]byte(tc.line), tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %q %v, want %q %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLastLogError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.log")
	old := `{"level":"error","msg":"an old failure","time":"t"}` + "\n"
	now := `{"level":"info","msg":"starting","time":"t"}` + "\n" +
		`{"level":"error","msg":"rootfs: no such file","time":"t"}` + "\n" +
		`{"level":"debug","msg":"bye","time":"t"}` + "\n"
	if err := os.WriteFile(path, []byte(old+now), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := lastLogError(path, int64(len(old))); got != "rootfs: no such file" {
		t.Errorf("got %q", got)
	}
	if got := lastLogError(path, int64(len(old+now))); got != "" {
		t.Errorf("past the end: got %q", got)
	}
	if got := lastLogError(filepath.Join(t.TempDir(), "none"), 0); !strings.EqualFold(got, "") {
		t.Errorf("missing file: got %q", got)
	}
}
