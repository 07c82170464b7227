// Package specs holds what both xrt and the manager know about OCI runtime
// configs: loading config.json from a bundle, the default config that
// `xrt spec` writes, validation of everything a runtime must refuse, the
// name tables (capabilities, rlimits, mount options, namespaces) and the
// document `xrt features` prints.
package specs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of the config inside a bundle.
const ConfigFile = "config.json"

// causeError prints a short message but still unwraps to its cause, so
// callers can test for fs.ErrNotExist or *json.SyntaxError.
type causeError struct {
	msg string
	err error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.err }

// Load reads and decodes <bundleDir>/config.json. Unknown fields are
// ignored, as runc does. It does not validate: see Validate.
func Load(bundleDir string) (*rspec.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundleDir, ConfigFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &causeError{fmt.Sprintf("%s not found in bundle %s", ConfigFile, bundleDir), err}
		}
		return nil, fmt.Errorf("reading %s: %w", ConfigFile, err)
	}
	return Decode(data)
}

// Decode decodes a config.json document; errors name the line and column,
// and the field for a value of the wrong type.
func Decode(data []byte) (*rspec.Spec, error) {
	var s rspec.Spec
	err := json.Unmarshal(data, &s)
	if err == nil {
		return &s, nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return nil, &causeError{fmt.Sprintf("%s: line %d, column %d: %s", ConfigFile, line, col, syn.Error()), err}
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset)
		field := typ.Field
		if field == "" {
			field = "(document)"
		}
		return nil, &causeError{fmt.Sprintf("%s: %s: cannot use JSON %s as %s (line %d, column %d)",
			ConfigFile, field, typ.Value, jsonKind(typ.Type), line, col), err}
	}
	return nil, fmt.Errorf("%s: %w", ConfigFile, err)
}

// jsonKind names what a Go type expects in JSON terms, so that a message
// says "string" rather than "specs.LinuxNamespaceType".
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.Kind().String()
}

// position turns the byte offset at which decoding stopped into a 1-based
// line and column of the byte that stopped it.
func position(data []byte, offset int64) (line, col int) {
	end := int(offset)
	if end > 0 {
		end-- // the decoder reports the offset after the offending byte
	}
	if end > len(data) {
		end = len(data)
	}
	before := data[:end]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = end - bytes.LastIndexByte(before, '\n')
	return line, col
}
