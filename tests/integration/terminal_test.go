package integration

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/runtime/console"
)

type received struct {
	f   *os.File
	err error
}

// consoleSocket listens on a unix socket, as containerd does for
// --console-socket, and delivers the first fd sent over it.
func consoleSocket(t *testing.T) (string, <-chan received) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan received, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- received{err: err}
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			got <- received{err: err}
			return
		}
		defer f.Close()
		m, err := console.RecvFd(f)
		got <- received{m, err}
	}()
	return path, got
}

// readPty reads the pty master until want shows up, the container side is
// closed (EIO) or a few seconds pass.
func readPty(t *testing.T, master *os.File, want string) string {
	t.Helper()
	// A non-blocking duplicate takes a read deadline.
	fd, err := unix.Dup(int(master.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), master.Name())
	defer f.Close()
	if err := f.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), want) {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return out.String()
}

func TestTerminalConsoleSocket(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "sh", "-c", "tty; echo hi from the pty")
	b.spec.Process.Terminal = true
	sock, got := consoleSocket(t)
	b.mustCreate("--console-socket", sock)
	var master *os.File
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("receive the pty master over --console-socket: %v", r.err)
		}
		master = r.f
	case <-time.After(5 * time.Second):
		t.Fatal("create returned but sent no pty master over --console-socket")
	}
	defer master.Close()
	if master.Name() == "" {
		t.Errorf("the fd came without a name as its payload")
	}
	b.mustStart()
	out := readPty(t, master, "hi from the pty")
	if !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "hi from the pty") {
		t.Errorf("want /dev/pts/0 and the echo through the pty, read %q", out)
	}
}

func TestTerminalWithoutConsoleSocket(t *testing.T) {
	t.Parallel()
	b := newBundle(t, "true")
	b.spec.Process.Terminal = true
	r := b.create()
	if r.code == 0 {
		t.Fatalf("create with process.terminal and no --console-socket succeeded: %s", r)
	}
	if !strings.Contains(r.stderr, "console") {
		t.Errorf("want an error naming the console socket, got %s", r)
	}
	if exists(filepath.Join(b.root, b.id)) {
		t.Errorf("failed create left state dir %s", filepath.Join(b.root, b.id))
	}
}
