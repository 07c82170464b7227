package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// ReadMessages decodes a JSON message stream (pull, push, load, import),
// calling fn for each message, and returns the error the stream ends with,
// if any. fn may be nil.
func ReadMessages(r io.Reader, fn func(types.JSONMessage)) error {
	dec := json.NewDecoder(r)
	for {
		var m types.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading the daemon's answer: %w", err)
		}
		if m.Error != nil && m.Error.Message != "" {
			return &Error{Status: 500, Message: m.Error.Message}
		}
		if m.ErrorMessage != "" {
			return &Error{Status: 500, Message: m.ErrorMessage}
		}
		if fn != nil {
			fn(m)
		}
	}
}
