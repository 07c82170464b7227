package initproc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestExecRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ca, cb := NewConn(a), NewConn(b)
	want := &ExecConfig{ID: "c1", Pid: 42, Rootfs: "/r",
		Process: &rspec.Process{Args: []string{"ls", "-l"}, Cwd: "/tmp", Env: []string{"A=1"},
			User: rspec.User{UID: 1000, AdditionalGids: []uint32{5}}},
		Seccomp: []byte{1, 2, 3}, CgroupFds: []int{9, 10}, ConsoleFd: 7, AgentFd: 8, Chroot: true,
		ListenerMetadata: "meta", Annotations: map[string]string{"k": "v"}}
	go func() {
		_ = ca.SendExec(want)
		a.Close()
	}()
	got, err := cb.recvExec()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestRecvExecRefuses(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"another kind", `{"type":"config","config":{}}` + "\n", `got "config"`},
		{"no process", `{"type":"exec","exec":{"id":"c"}}` + "\n", "want a process"},
		{"no args", `{"type":"exec","exec":{"process":{"cwd":"/"}}}` + "\n", "want a process"},
		{"an error", `{"type":"error","error":"boom"}` + "\n", "boom"},
		{"garbage", "{not json\n", "bad message"},
		{"end of stream", "", io.ErrUnexpectedEOF.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConn(struct {
				io.Reader
				io.Writer
			}{strings.NewReader(tc.in), io.Discard})
			if _, err := c.recvExec(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// RecvReply reads what nsenter.c writes by hand, and the child's errors.
func TestRecvReply(t *testing.T) {
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{strings.NewReader("{\"type\":\"pid\",\"pid\":1234}\n{\"type\":\"error\",\"error\":\"no such file: /x\"}\n"), io.Discard})
	if m, err := c.RecvReply(); err != nil || m.Kind != KindPid || m.Pid != 1234 {
		t.Fatalf("pid line: %+v %v", m, err)
	}
	var remote *RemoteError
	if _, err := c.RecvReply(); !errors.As(err, &remote) || remote.Msg != "no such file: /x" {
		t.Fatalf("error line: %v", err)
	}
	if _, err := c.RecvReply(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("end: %v", err)
	}
}

// SendExec must write one line, as the framing and the C half assume.
func TestSendExecOneLine(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{strings.NewReader(""), &buf})
	if err := c.SendExec(&ExecConfig{Process: &rspec.Process{Args: []string{"echo", "a\nb"}}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("want one line, got %q", buf.String())
	}
}

func TestJoinCgroupFds(t *testing.T) {
	dir := t.TempDir()
	var fds []int
	for _, name := range []string{"a", "b"} {
		f, err := os.Create(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	if err := joinCgroupFds(fds); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if b, _ := os.ReadFile(dir + "/" + name); string(b) != "0" {
			t.Errorf("%s holds %q, want 0", name, b)
		}
	}
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			t.Errorf("fd %d left open", fd)
		}
	}
	// A write that fails is reported, naming the fd; the rest are still closed.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	bad, _ := unix.Dup(int(r.Fd())) // read end: writing fails with EBADF
	r.Close()
	if err := joinCgroupFds([]int{bad}); err == nil || !strings.Contains(err.Error(), "cgroup") {
		t.Errorf("want an error naming the cgroup, got %v", err)
	}
}
