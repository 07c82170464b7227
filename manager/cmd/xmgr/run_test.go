package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/types"
)

// scriptedDaemon plays the daemon's side of `run` on a unix socket: it
// records the calls in order, says "No such image" once for images named
// "missing", and streams "hi" and "oops" to an attach once the container
// is started, which then exits with status 3.
type scriptedDaemon struct {
	mu      sync.Mutex
	calls   []string
	created types.ContainerCreateRequest
	pulled  bool
	started chan struct{}
	sock    string
}

func (d *scriptedDaemon) record(call string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
}

func startScriptedDaemon(t *testing.T) *scriptedDaemon {
	t.Helper()
	d := &scriptedDaemon{started: make(chan struct{}), sock: filepath.Join(t.TempDir(), "xmgr.sock")}
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		io.WriteString(w, "OK")
	})
	mux.HandleFunc("/v1.41/containers/create", func(w http.ResponseWriter, r *http.Request) {
		var req types.ContainerCreateRequest
		json.NewDecoder(r.Body).Decode(&req)
		d.mu.Lock()
		missing := req.Image == "missing" && !d.pulled
		d.created = req
		d.mu.Unlock()
		if missing {
			d.record("create-404")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such image: missing:latest"}`)
			return
		}
		d.record("create " + r.URL.Query().Get("name"))
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"Id":"c0ffee","Warnings":["the kernel does not do swap limits"]}`)
	})
	mux.HandleFunc("/v1.41/images/create", func(w http.ResponseWriter, r *http.Request) {
		d.record("pull " + r.URL.Query().Get("fromImage") + ":" + r.URL.Query().Get("tag"))
		d.mu.Lock()
		d.pulled = true
		d.mu.Unlock()
		io.WriteString(w, `{"status":"Pulling from library/missing","id":"latest"}`+"\n")
	})
	mux.HandleFunc("/v1.41/containers/c0ffee/attach", func(w http.ResponseWriter, r *http.Request) {
		d.record("attach " + r.URL.RawQuery)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		select {
		case <-d.started:
		case <-time.After(5 * time.Second):
			return
		}
		conn.Write(frame(streamStdout, "hi\n"))
		conn.Write(frame(streamStderr, "oops\n"))
	})
	mux.HandleFunc("/v1.41/containers/c0ffee/wait", func(w http.ResponseWriter, r *http.Request) {
		d.record("wait " + r.URL.Query().Get("condition"))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-d.started:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, `{"StatusCode":3}`)
	})
	mux.HandleFunc("/v1.41/containers/c0ffee/start", func(w http.ResponseWriter, r *http.Request) {
		d.record("start")
		close(d.started)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/v1.41/containers/c0ffee/json", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"Id":"c0ffee","Config":{"Tty":false},"State":{"Running":true}}`)
	})
	mux.HandleFunc("/v1.41/containers/c0ffee/logs", func(w http.ResponseWriter, r *http.Request) {
		d.record("logs " + r.URL.RawQuery)
		w.Write(frame(streamStdout, "line1\n"))
		w.Write(frame(streamStderr, "warn\n"))
	})
	mux.HandleFunc("/v1.41/containers/c0ffee/exec", func(w http.ResponseWriter, r *http.Request) {
		var cfg types.ExecConfig
		json.NewDecoder(r.Body).Decode(&cfg)
		d.record(fmt.Sprintf("exec-create %q stdin=%v env=%q", cfg.Cmd, cfg.AttachStdin, cfg.Env))
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"Id":"e1"}`)
	})
	mux.HandleFunc("/v1.41/exec/e1/start", func(w http.ResponseWriter, r *http.Request) {
		d.record("exec-start")
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		// The JSON body, then stdin until the client half-closes.
		json.NewDecoder(buf).Decode(&types.ExecStartRequest{})
		in, _ := io.ReadAll(buf)
		conn.Write(frame(streamStdout, strings.ToUpper(strings.TrimSpace(string(in)))))
	})
	mux.HandleFunc("/v1.41/exec/e1/json", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ID":"e1","Running":false,"ExitCode":7}`)
	})
	l, err := net.Listen("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return d
}

// runCmdLine runs `xmgr -H unix://sock run args...` with the run action
// unwrapped (no os.Exit) and returns its stdout, stderr and error.
func runCmdLine(t *testing.T, sock string, args ...string) (string, string, error) {
	t.Helper()
	cmd := runCommand()
	cmd.Action = runRun
	return cmdLine(t, sock, cmd, "", args...)
}

// cmdLine runs `xmgr -H unix://sock <cmd> args...` with stdin holding
// input and returns its stdout, stderr and error.
func cmdLine(t *testing.T, sock string, cmd *cli.Command, input string, args ...string) (string, string, error) {
	t.Helper()
	app := &cli.App{Name: "xmgr", Commands: []*cli.Command{cmd}, DisableSliceFlagSeparator: true,
		UseShortOptionHandling: true, ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{&cli.StringFlag{Name: "host", Aliases: []string{"H"}}}}
	setupCommand(cmd)

	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	inR, inW, _ := os.Pipe()
	go func() { io.WriteString(inW, input); inW.Close() }()
	oldOut, oldErr, oldIn := os.Stdout, os.Stderr, os.Stdin
	os.Stdout, os.Stderr, os.Stdin = outW, errW, inR
	var out, errOut strings.Builder
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(&out, outR) }()
	go func() { defer wg.Done(); io.Copy(&errOut, errR) }()
	err := app.Run(append([]string{"xmgr", "-H", "unix://" + sock, cmd.Name}, args...))
	os.Stdout, os.Stderr, os.Stdin = oldOut, oldErr, oldIn
	inR.Close()
	outW.Close()
	errW.Close()
	wg.Wait()
	return out.String(), errOut.String(), err
}

func TestRunForeground(t *testing.T) {
	d := startScriptedDaemon(t)
	out, errOut, err := runCmdLine(t, d.sock, "--name", "web", "--rm", "busybox", "sh", "-c", "exit 3")
	var st exitStatus
	if !errors.As(err, &st) || st != 3 {
		t.Fatalf("got %v, want exit status 3", err)
	}
	if out != "hi\n" {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, "oops\n") || !strings.Contains(errOut, "WARNING: the kernel does not do swap limits") {
		t.Errorf("stderr %q", errOut)
	}
	// Attach and wait come before start, so nothing is missed; --rm
	// waits for the removal.
	want := "create web|attach stderr=1&stdout=1&stream=1|wait removed|start"
	if got := strings.Join(d.calls, "|"); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
	if !d.created.HostConfig.AutoRemove || strings.Join(d.created.Cmd, " ") != "sh -c exit 3" {
		t.Errorf("create request: %+v", d.created)
	}
}

func TestRunPullsMissingImage(t *testing.T) {
	d := startScriptedDaemon(t)
	out, errOut, err := runCmdLine(t, d.sock, "-d", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if out != "c0ffee\n" {
		t.Errorf("stdout %q, want the ID", out)
	}
	if !strings.Contains(errOut, "Unable to find image 'missing:latest' locally") {
		t.Errorf("stderr %q", errOut)
	}
	want := "create-404|pull missing:latest|create |start"
	if got := strings.Join(d.calls, "|"); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
}

func TestRunPullNever(t *testing.T) {
	d := startScriptedDaemon(t)
	_, _, err := runCmdLine(t, d.sock, "-d", "--pull", "never", "missing")
	var ce *codedError
	if !errors.As(err, &ce) || ce.ExitCode() != exitUsage || !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("got %v, want No such image with exit code 125", err)
	}
}

func TestRunCIDFile(t *testing.T) {
	d := startScriptedDaemon(t)
	cid := filepath.Join(t.TempDir(), "cid")
	if _, _, err := runCmdLine(t, d.sock, "-d", "--cidfile", cid, "busybox"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cid); string(b) != "c0ffee" {
		t.Fatalf("cidfile holds %q", b)
	}
	// A second run with the same file is refused before any create.
	d.calls = nil
	_, _, err := runCmdLine(t, d.sock, "-d", "--cidfile", cid, "busybox")
	if err == nil || !strings.Contains(err.Error(), "Container ID file found") && !strings.Contains(err.Error(), "container ID file found") {
		t.Fatalf("got %v", err)
	}
	if len(d.calls) != 0 {
		t.Fatalf("calls %v after a refused cidfile", d.calls)
	}
	// A failed create leaves no file.
	cid2 := filepath.Join(t.TempDir(), "cid2")
	if _, _, err := runCmdLine(t, d.sock, "-d", "--pull", "never", "--cidfile", cid2, "missing"); err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(cid2); !os.IsNotExist(err) {
		t.Fatalf("cidfile left behind: %v", err)
	}
}

func TestRunConflicts(t *testing.T) {
	d := startScriptedDaemon(t)
	_, _, err := runCmdLine(t, d.sock, "-d", "-a", "stdout", "busybox")
	if err == nil || !strings.Contains(err.Error(), "conflicting options: -a and -d") {
		t.Fatalf("got %v", err)
	}
	if len(d.calls) != 0 {
		t.Fatalf("calls %v", d.calls)
	}
}

func TestExec(t *testing.T) {
	d := startScriptedDaemon(t)
	cmd := execCommand()
	cmd.Action = runExec
	out, _, err := cmdLine(t, d.sock, cmd, "from stdin\n", "-i", "-e", "A=1", "c0ffee", "cat", "-n")
	var st exitStatus
	if !errors.As(err, &st) || st != 7 {
		t.Fatalf("got %v, want the exec's exit status 7", err)
	}
	if out != "FROM STDIN" {
		t.Errorf("stdout %q", out)
	}
	want := `exec-create ["cat" "-n"] stdin=true env=["A=1"]|exec-start`
	if got := strings.Join(d.calls, "|"); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
}

func TestLogs(t *testing.T) {
	d := startScriptedDaemon(t)
	cmd := logsCommand()
	out, errOut, err := cmdLine(t, d.sock, cmd, "", "-n", "5", "-t", "--since", "1700000000", "c0ffee")
	if err != nil {
		t.Fatal(err)
	}
	if out != "line1\n" || errOut != "warn\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	want := "logs since=1700000000&stderr=1&stdout=1&tail=5&timestamps=1"
	if got := strings.Join(d.calls, "|"); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
}
