package containers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xrt-dev/xrt/manager/api/server"
)

var logT0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// logLine is one json-file entry, as the shim writes it.
func logLine(stream, text string, i int) string {
	return fmt.Sprintf(`{"log":%q,"stream":%q,"time":%q}`+"\n", text, stream, logT0.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano))
}

func writeLog(t *testing.T, p string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		b.WriteString(logLine(stream, fmt.Sprintf("line %d\n", i), i))
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// collect reads the log with opts and returns "stream:text" items.
func collect(t *testing.T, p string, opts server.LogsOptions) []string {
	t.Helper()
	var got []string
	err := readLog(context.Background(), p, opts, nil, func(m server.LogMessage) error {
		got = append(got, m.Stream[3:]+":"+strings.TrimSpace(string(m.Line)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestReadLogRotatedTailSinceUntil(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c-json.log")
	writeLog(t, p+".2", 0, 3) // oldest
	writeLog(t, p+".1", 3, 6)
	writeLog(t, p, 6, 9)
	all := server.LogsOptions{Stdout: true, Stderr: true, Tail: -1}
	tests := []struct {
		name string
		opts func(o *server.LogsOptions)
		want string
	}{
		{"all, oldest first", func(o *server.LogsOptions) {}, "out:line 0,err:line 1,out:line 2,err:line 3,out:line 4,err:line 5,out:line 6,err:line 7,out:line 8"},
		{"stdout only", func(o *server.LogsOptions) { o.Stderr = false }, "out:line 0,out:line 2,out:line 4,out:line 6,out:line 8"},
		{"stderr only", func(o *server.LogsOptions) { o.Stdout = false }, "err:line 1,err:line 3,err:line 5,err:line 7"},
		{"tail 2", func(o *server.LogsOptions) { o.Tail = 2 }, "err:line 7,out:line 8"},
		{"tail across files", func(o *server.LogsOptions) { o.Tail = 5 }, "out:line 4,err:line 5,out:line 6,err:line 7,out:line 8"},
		{"tail 0", func(o *server.LogsOptions) { o.Tail = 0 }, ""},
		{"tail more than all", func(o *server.LogsOptions) { o.Tail = 100 }, "out:line 0,err:line 1,out:line 2,err:line 3,out:line 4,err:line 5,out:line 6,err:line 7,out:line 8"},
		{"since", func(o *server.LogsOptions) { o.Since = logT0.Add(7 * time.Second) }, "err:line 7,out:line 8"},
		{"until", func(o *server.LogsOptions) { o.Until = logT0.Add(time.Second) }, "out:line 0,err:line 1"},
		{"since and until", func(o *server.LogsOptions) {
			o.Since, o.Until = logT0.Add(3*time.Second), logT0.Add(4*time.Second)
		}, "err:line 3,out:line 4"},
	}
	for _, tt := range tests {
		opts := all
		tt.opts(&opts)
		if got := strings.Join(collect(t, p, opts), ","); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestReadLogMissingAndTornLines(t *testing.T) {
	dir := t.TempDir()
	if got := collect(t, filepath.Join(dir, "none.log"), server.LogsOptions{Stdout: true, Tail: -1}); len(got) != 0 {
		t.Errorf("a missing log gave %q", got)
	}
	p := filepath.Join(dir, "c.log")
	data := logLine("stdout", "a\n", 0) + "{not json\n" + logLine("stdout", "partial", 1) + `{"log":"cut`
	os.WriteFile(p, []byte(data), 0o644)
	if got := strings.Join(collect(t, p, server.LogsOptions{Stdout: true, Tail: -1}), ","); got != "out:a,out:partial" {
		t.Errorf("got %q", got)
	}
	if got := strings.Join(collect(t, p, server.LogsOptions{Stdout: true, Tail: 1}), ","); got != "" {
		t.Errorf("tail 1 of a log ending in a torn line: %q, want nothing", got)
	}
}

func TestTailOffsetLargeFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.log")
	writeLog(t, p, 0, 5000) // several 32 KiB blocks
	got := collect(t, p, server.LogsOptions{Stdout: true, Stderr: true, Tail: 3})
	if strings.Join(got, ",") != "err:line 4997,out:line 4998,err:line 4999" {
		t.Errorf("tail 3 = %q", got)
	}
}

// TestFollowRotationAndStop follows a log while entries are appended, the
// file is rotated and truncated, then stops when the container does.
func TestFollowRotationAndStop(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c-json.log")
	writeLog(t, p, 0, 2)
	stop := make(chan struct{})
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- readLog(context.Background(), p, server.LogsOptions{Stdout: true, Stderr: true, Tail: 1, Follow: true}, stop, func(m server.LogMessage) error {
			mu.Lock()
			got = append(got, strings.TrimSpace(string(m.Line)))
			mu.Unlock()
			return nil
		})
	}()
	appendLine := func(path string, i int) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(logLine("stdout", fmt.Sprintf("line %d\n", i), i))
		f.Close()
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			l := len(got)
			mu.Unlock()
			if l >= n {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("waited for %d entries, got %q", n, got)
	}
	waitFor(1)
	appendLine(p, 2)
	waitFor(2)
	// Rotate as the shim does: the live file becomes .1, a new one starts.
	appendLine(p, 3)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendLine(p, 4)
	waitFor(4)
	// Truncate (max-file 1).
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * logPollInterval)
	appendLine(p, 5)
	waitFor(5)
	appendLine(p, 6)
	close(stop) // the container stopped: what is written is still read
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "line 1,line 2,line 3,line 4,line 5,line 6"; strings.Join(got, ",") != want {
		t.Errorf("followed %q, want %q", strings.Join(got, ","), want)
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	writeLog(t, p, 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := readLog(ctx, p, server.LogsOptions{Stdout: true, Tail: 0, Follow: true}, make(chan struct{}), func(server.LogMessage) error {
		return fmt.Errorf("tail 0 sent an old entry")
	})
	if err != context.DeadlineExceeded {
		t.Errorf("follow ended with %v, want the context's end", err)
	}
}
