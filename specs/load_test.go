package specs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		data string // config.json contents; "-" for no file
		want string // error substring; "" for success
	}{
		{"missing", "-", "config.json not found in bundle "},
		{"empty", "", "config.json: line 1, column 1: unexpected end of JSON input"},
		{"syntax", "{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": x\n}", "config.json: line 3, column 14: invalid character 'x'"},
		{"truncated", "{\n  \"ociVersion\": \"1.0.0\",", "config.json: line 2, column "},
		{"wrong type", `{"ociVersion": "1.0.0", "process": {"args": [1]}}`, "config.json: process.args: cannot use JSON number as string (line 1, column "},
		{"wrong nested type", `{"linux": {"namespaces": [{"type": 3}]}}`, "config.json: linux.namespaces.type: cannot use JSON number as string"},
		{"wrong object", `{"process": []}`, "config.json: process: cannot use JSON array as object"},
		{"not an object", `[]`, "config.json: (document): cannot use JSON array as object"},
		{"unknown fields", `{"ociVersion": "1.0.0", "whatever": {"a": 1}, "process": {"cwd": "/", "frob": true}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.data != "-" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tt.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Load(dir)
			if tt.want == "" {
				if err != nil || s == nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load: no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Load: %q, want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadErrorsUnwrap(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing config: %v does not wrap fs.ErrNotExist", err)
	}
	if want := "config.json not found in bundle " + dir; err == nil || err.Error() != want {
		t.Errorf("missing config: %v, want %q", err, want)
	}
	_, err = Decode([]byte("{"))
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		t.Errorf("syntax error: %v does not wrap *json.SyntaxError", err)
	}
}

func TestLoadDefault(t *testing.T) {
	dir := t.TempDir()
	data, err := json.MarshalIndent(Default(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Default()) {
		t.Errorf("Load(Default) differs from Default:\n%+v", s)
	}
}
