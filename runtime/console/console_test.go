package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary act as a container init that calls
// SetupSlave and reports what it sees through its new stdout.
func TestMain(m *testing.M) {
	if slave := os.Getenv("CONSOLE_TEST_SLAVE"); slave != "" {
		os.Exit(slaveChild(slave))
	}
	os.Exit(m.Run())
}

func slaveChild(slave string) int {
	var size *rspec.Box
	if s := os.Getenv("CONSOLE_TEST_SIZE"); s != "" {
		var h, w uint
		fmt.Sscanf(s, "%dx%d", &h, &w)
		size = &rspec.Box{Height: h, Width: w}
	}
	if err := SetupSlave(slave, size); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ws, _ := unix.IoctlGetWinsize(1, unix.TIOCGWINSZ)
	pgrp, _ := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	sid, _ := unix.Getsid(0)
	_, ttyErr := os.Open("/dev/tty") // only works with a controlling terminal
	fmt.Printf("leader=%t fg=%t ctty=%t size=%dx%d\n",
		sid == os.Getpid(), pgrp == unix.Getpgrp(), ttyErr == nil, ws.Row, ws.Col)
	return 0
}

// openSlave opens a pty slave as a pollable file, so reads can time out.
func openSlave(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readUntil reads r until the data contains want or the deadline passes.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Contains(got, []byte(want)) {
		if f, ok := r.(*os.File); ok {
			f.SetReadDeadline(deadline)
		}
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read got %q, want %q: %v", got, want, err)
		}
	}
	return string(got)
}

func TestNewPty(t *testing.T) {
	master, slavePath, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if !regexp.MustCompile(`^/dev/pts/[0-9]+$`).MatchString(slavePath) {
		t.Fatalf("slave path %q", slavePath)
	}
	if fl, _ := unix.FcntlInt(master.Fd(), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
		t.Error("master is not close-on-exec")
	}
	slave := openSlave(t, slavePath)
	tests := []struct {
		name     string
		from, to *os.File
		data     string
		want     string
	}{
		{"slave to master", slave, master, "ping\n", "ping\r\n"}, // onlcr
		{"master to slave", master, slave, "pong\n", "pong\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.from.Write([]byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			if got := readUntil(t, tc.to, tc.want); !strings.HasSuffix(got, tc.want) {
				t.Fatalf("read %q, want %q", got, tc.want)
			}
		})
	}
}

func socketpair(t *testing.T) (a, b *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b = os.NewFile(uintptr(fds[0]), "sock-a"), os.NewFile(uintptr(fds[1]), "sock-b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// checkPassed checks that w, received over a socket, is the write end of
// the pipe whose read end is r.
func checkPassed(t *testing.T, w, r *os.File) {
	t.Helper()
	if _, err := w.Write([]byte("through")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "through" {
		t.Fatalf("read %q, %v through the passed fd", buf[:n], err)
	}
}

func TestSendRecvFd(t *testing.T) {
	tests := []struct{ name, send, want string }{
		{"pty name", "/dev/pts/7", "/dev/pts/7"},
		{"empty name sends file name", "", "|1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketpair(t)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := SendFd(a, tc.send, w); err != nil {
				t.Fatal(err)
			}
			w.Close() // the receiver holds its own copy
			got, err := RecvFd(b)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if got.Name() != tc.want {
				t.Errorf("name %q, want %q", got.Name(), tc.want)
			}
			if fl, _ := unix.FcntlInt(got.Fd(), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
				t.Error("received fd is not close-on-exec")
			}
			checkPassed(t, got, r)
		})
	}
}

func TestRecvFdErrors(t *testing.T) {
	tests := []struct {
		name    string
		peer    func(*os.File) // acts on the sending end
		wantErr string
	}{
		{"peer closed", func(f *os.File) { f.Close() }, "connection closed"},
		{"no fd", func(f *os.File) { f.Write([]byte("hello")) }, `message "hello" carried no fd`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketpair(t)
			tc.peer(a)
			f, err := RecvFd(b)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("RecvFd = %v, %v; want error %q", f, err, tc.wantErr)
			}
		})
	}
}

func TestDial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.sock")
	if _, err := Dial(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Dial of a missing socket: %v, want an error naming %s", err, path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sock, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The accepted side is a non-blocking socket: RecvFd must wait on it.
	peer, err := conn.(*net.UnixConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond) // let RecvFd block first
		done <- SendFd(sock, "/dev/pts/3", w)
	}()
	got, err := RecvFd(peer)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.Close()
	checkPassed(t, got, r)
}

func TestSetupSlave(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		setsid bool // child already leads a session
		size   string
		want   string
	}{
		{"new session, no size", false, "", "leader=true fg=true ctty=true size=0x0"},
		{"already leader, size", true, "30x100", "leader=true fg=true ctty=true size=30x100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			master, slavePath, err := NewPty()
			if err != nil {
				t.Fatal(err)
			}
			defer master.Close()
			cmd := exec.Command(self)
			cmd.Env = []string{"CONSOLE_TEST_SLAVE=" + slavePath, "CONSOLE_TEST_SIZE=" + tc.size}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: tc.setsid}
			if err := cmd.Run(); err != nil {
				t.Fatalf("child: %v: %s", err, stderr.Bytes())
			}
			// The child is gone: the master yields its output, then EIO.
			out, err := io.ReadAll(master)
			if err != nil && !errors.Is(err, syscall.EIO) {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Fatalf("child saw %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name string
		tty  bool // xrt's stdin is a terminal
	}{
		{"stdin a pipe", false},
		{"stdin a terminal", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			master, slavePath, err := NewPty()
			if err != nil {
				t.Fatal(err)
			}
			slave := openSlave(t, slavePath) // the container's side

			var in, inPeer *os.File // inPeer writes what arrives on in
			var before *unix.Termios
			if tc.tty {
				m, p, err := NewPty()
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				in = openSlave(t, p)
				inPeer = m
				unix.IoctlSetWinsize(int(in.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 77})
				before, _ = unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
			} else {
				in, inPeer, err = os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer in.Close()
				defer inPeer.Close()
			}
			outR, out, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer outR.Close()
			defer out.Close()

			p, err := startProxy(master, in, out)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tty {
				now, _ := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
				if now.Lflag&unix.ICANON != 0 {
					t.Error("stdin terminal not in raw mode")
				}
				waitSize(t, slave, 33, 77)
				unix.IoctlSetWinsize(int(in.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 44, Col: 88})
				unix.Kill(os.Getpid(), unix.SIGWINCH)
				waitSize(t, slave, 44, 88)
			}

			inPeer.Write([]byte("typed\n"))
			readUntil(t, slave, "typed\n")
			slave.Write([]byte("shown\n"))
			readUntil(t, outR, "shown\r\n")

			slave.Close() // the container exits
			start := time.Now()
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d >= drainWait {
				t.Errorf("Close waited %v: output copy did not see the slave close", d)
			}
			if tc.tty {
				after, _ := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
				if *after != *before {
					t.Error("terminal not restored by Close")
				}
			}
		})
	}
}

func waitSize(t *testing.T, f *os.File, rows, cols uint16) {
	t.Helper()
	rc, err := f.SyscallConn() // not f.Fd(): that would make f blocking
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		var ws *unix.Winsize
		rc.Control(func(fd uintptr) { ws, err = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) })
		if err == nil && ws.Row == rows && ws.Col == cols {
			return
		}
		if i == 200 {
			t.Fatalf("pty size %+v, want %dx%d", ws, rows, cols)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
