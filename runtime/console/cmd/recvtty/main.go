// Command recvtty is the receiving end of a --console-socket, for tests and
// manual use (as runc's contrib/cmd/recvtty). It listens on a unix socket,
// receives the pty master a runtime sends there, and copies the master to
// its stdout and its stdin to the master.
//
//	recvtty [-mode single|null] [-pid-file FILE] SOCKET
//
// In single mode (the default) it serves one console and exits when the
// container's side of the pty is closed. In null mode it accepts consoles
// until killed and discards their output, so detached containers with a
// terminal never block on a full pty. The socket exists (and the pid file is
// written) before the first accept, so a script can wait for either.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/xrt-dev/xrt/runtime/console"
)

func main() {
	mode := flag.String("mode", "single", "single: serve one console then exit; null: discard every console's output")
	pidFile := flag.String("pid-file", "", "write the pid here once the socket is listening")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: recvtty [-mode single|null] [-pid-file FILE] SOCKET")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || (*mode != "single" && *mode != "null") {
		flag.Usage()
		os.Exit(2)
	}
	if err := serve(flag.Arg(0), *mode, *pidFile); err != nil {
		fmt.Fprintln(os.Stderr, "recvtty:", err)
		os.Exit(1)
	}
}

func serve(path, mode, pidFile string) error {
	os.Remove(path) // a stale socket from an earlier run
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	defer l.Close() // also unlinks the socket
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("pid file: %w", err)
		}
	}
	for {
		master, err := accept(l)
		if err != nil {
			return err
		}
		if mode == "null" {
			go func() {
				io.Copy(io.Discard, master)
				master.Close()
			}()
			continue
		}
		go io.Copy(master, os.Stdin)
		io.Copy(os.Stdout, master) // ends with EIO when the container's side closes
		return master.Close()
	}
}

// accept takes one connection and receives the master sent over it.
func accept(l *net.UnixListener) (*os.File, error) {
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	sock, err := conn.File()
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	return console.RecvFd(sock)
}
