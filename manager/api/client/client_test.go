package client

import (
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

func TestNewHosts(t *testing.T) {
	for _, h := range []string{"unix:///run/x.sock", "tcp://127.0.0.1:2375", "http://h:1", ""} {
		if _, err := New(h); err != nil {
			t.Errorf("New(%q): %v", h, err)
		}
	}
	for _, h := range []string{"/run/x.sock", "unix://", "ssh://me@host"} {
		if _, err := New(h); !errdefs.IsInvalidArgument(err) {
			t.Errorf("New(%q) = %v, want invalid argument", h, err)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		status int
		is     func(error) bool
	}{
		{404, errdefs.IsNotFound}, {400, errdefs.IsInvalidArgument}, {409, errdefs.IsConflict},
		{401, errdefs.IsUnauthorized}, {503, errdefs.IsUnavailable},
	}
	for _, tt := range tests {
		if err := error(&Error{Status: tt.status, Message: "m"}); !tt.is(err) || err.Error() != "m" {
			t.Errorf("status %d: kind lost", tt.status)
		}
	}
}

func TestSplitRef(t *testing.T) {
	tests := []struct{ in, repo, tag string }{
		{"busybox", "busybox", ""},
		{"busybox:1.36", "busybox", "1.36"},
		{"localhost:5000/a/b", "localhost:5000/a/b", ""},
		{"localhost:5000/a/b:2", "localhost:5000/a/b", "2"},
		{"busybox@sha256:abcd", "busybox", "sha256:abcd"},
	}
	for _, tt := range tests {
		if r, g := splitRef(tt.in); r != tt.repo || g != tt.tag {
			t.Errorf("splitRef(%q) = %q, %q", tt.in, r, g)
		}
	}
}

func TestReadMessages(t *testing.T) {
	var got []string
	err := ReadMessages(strings.NewReader(`{"status":"a"}
{"status":"b","id":"x"}
{"errorDetail":{"message":"boom"},"error":"boom"}
{"status":"never"}`), func(m types.JSONMessage) { got = append(got, m.Status) })
	if err == nil || err.Error() != "boom" || strings.Join(got, ",") != "a,b" {
		t.Errorf("ReadMessages: %v %v", got, err)
	}
	if err := ReadMessages(strings.NewReader(`{"status":`), nil); err == nil {
		t.Error("a truncated stream passed")
	}
}
