package initproc

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestConnRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ca, cb := NewConn(a), NewConn(b)
	cfg := &Config{ID: "c1", Pid: 42, Spec: &rspec.Spec{Hostname: "h"}, CgroupTasks: []string{"/x/tasks"}}
	go func() {
		_ = ca.Send(Message{Kind: KindConfig, Config: cfg})
		_ = ca.Send(Message{Kind: KindError, Error: "mount /proc: denied"})
		a.Close()
	}()
	m, err := cb.Expect(KindConfig)
	if err != nil || m.Config.ID != "c1" || m.Config.Pid != 42 || m.Config.Spec.Hostname != "h" || m.Config.CgroupTasks[0] != "/x/tasks" {
		t.Fatalf("Expect(config) = %+v, %v", m, err)
	}
	var remote *RemoteError
	if _, err := cb.Recv(); !errors.As(err, &remote) || remote.Msg != "mount /proc: denied" {
		t.Fatalf("Recv of an error message = %v, want the remote error", err)
	}
	if _, err := cb.Recv(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Recv after close = %v, want ErrUnexpectedEOF", err)
	}
}

func TestConnUnexpectedKindAndGarbage(t *testing.T) {
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{strings.NewReader("{\"type\":\"created\"}\nnot json\n"), io.Discard})
	if _, err := c.Expect(KindConfig); err == nil || !strings.Contains(err.Error(), `got "created"`) {
		t.Errorf("Expect(config) on created = %v", err)
	}
	if _, err := c.Recv(); err == nil || !strings.Contains(err.Error(), "bad message") {
		t.Errorf("Recv of garbage = %v", err)
	}
}

// The C half of the protocol writes these lines by hand (nsenter.c).
func TestConnReadsNsenterLines(t *testing.T) {
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{strings.NewReader("{\"type\":\"usermap\"}\n{\"type\":\"pid\",\"pid\":1234}\n{\"type\":\"error\",\"error\":\"nsenter: setns /proc/1/ns/net: Operation not permitted\"}\n"), io.Discard})
	if m, err := c.Expect(KindUserMap); err != nil {
		t.Fatalf("usermap: %+v %v", m, err)
	}
	if m, err := c.Expect(KindPid); err != nil || m.Pid != 1234 {
		t.Fatalf("pid: %+v %v", m, err)
	}
	if _, err := c.Recv(); err == nil || !strings.Contains(err.Error(), "setns /proc/1/ns/net") {
		t.Fatalf("error line: %v", err)
	}
}
