// Package regtest runs Debian's docker-registry for tests and benchmarks:
// on a free loopback port, with its storage in a temporary directory, and
// optionally behind htpasswd basic auth. It also builds test images and
// uploads them with plain distribution-API requests, so that a test of
// our pull does not depend on our push.
package regtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binary is where Debian installs the registry.
const Binary = "/usr/bin/docker-registry"

// ErrNoRegistry means the registry binary is not installed.
var ErrNoRegistry = errors.New(Binary + " is not installed (apt-get install docker-registry)")

// Server is a running registry.
type Server struct {
	Host string // 127.0.0.1:PORT
	Dir  string // its configuration and storage
	cmd  *exec.Cmd
	done chan error
}

// Options for Start.
type Options struct {
	// Htpasswd, when set, is an htpasswd file (bcrypt) and the registry
	// requires basic auth.
	Htpasswd string
}

// Start runs a registry in a new temporary directory under dir (os.TempDir
// when ""). Stop it with Stop.
func Start(dir string, opts Options) (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, ErrNoRegistry
	}
	d, err := os.MkdirTemp(dir, "regtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: d, done: make(chan error, 1)}
	// Pick a port by binding :0; the registry binds it right after. A
	// collision with another process in between fails the start, which
	// we retry a few times.
	for attempt := 0; attempt < 5; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		s.Host = fmt.Sprintf("127.0.0.1:%d", port)
		if err = s.run(opts); err == nil {
			return s, nil
		}
	}
	os.RemoveAll(d)
	return nil, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) run(opts Options) error {
	auth := ""
	if opts.Htpasswd != "" {
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: regtest\n    path: %s\n", opts.Htpasswd)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(s.Dir, "data"), s.Host, auth)
	cfgPath := filepath.Join(s.Dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(s.Dir, "registry.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(Binary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", Binary, err)
	}
	s.cmd = cmd
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Host+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				s.done = done
				return nil
			}
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("docker-registry exited (%v): %s", err, strings.TrimSpace(string(log)))
		case <-ctx.Done():
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("docker-registry on %s did not answer: %w", s.Host, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop kills the registry and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.Dir)
}
