// Command chit-chat is a small chat web server, xmgr's first-run demo: a
// page where you pick a name and talk, messages kept in memory (the last
// 100), delivered live with Server-Sent Events and logged to stdout, so
// that `xmgr logs` shows the conversation. It listens on :3000 (PORT
// overrides) and stops cleanly on SIGTERM, as a container's pid 1 must.
//
//	POST /messages  {"name":"alice","text":"hello"}
//	GET  /messages  the last 100, oldest first
//	GET  /events    the stream of messages
//	GET  /healthz   "ok"
//
// `chit-chat -healthcheck` asks a running server's /healthz and exits 0 or
// 1: the HEALTHCHECK of an image that has no shell and no curl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	check := flag.Bool("healthcheck", false, "ask the running server's /healthz and exit 0 if it answers ok, 1 if not")
	flag.Parse()
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	if *check {
		if err := healthcheck("http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"); err != nil {
			fmt.Fprintln(os.Stderr, "chit-chat: unhealthy:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, ":"+port, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chit-chat:", err)
		os.Exit(1)
	}
}

// serve runs the chat on addr until ctx ends, then lets the requests in
// flight finish (event streams are ended) and returns nil.
func serve(ctx context.Context, addr string, log io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "chit-chat listening on %s\n", ln.Addr())
	r := newRoom(log)
	srv := &http.Server{Handler: r.handler(), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(r.close)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(log, "chit-chat stopped")
	return nil
}

func healthcheck(url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("%s answered %s %q", url, resp.Status, body)
	}
	return nil
}
