package containers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// logPollInterval is how often a followed log is checked for new entries.
const logPollInterval = 150 * time.Millisecond

// ContainerLogs reads the container's json-file log (rotated files
// included, oldest first) and, with Follow, keeps reading new entries
// until the container stops and the log is drained, or ctx ends.
func (m *Manager) ContainerLogs(ctx context.Context, name string, opts server.LogsOptions, out func(server.LogMessage) error) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	path, exited, running := c.LogPath, c.exited, c.State.Running()
	driver := ""
	if c.HostConfig != nil {
		driver = c.HostConfig.LogConfig.Type
	}
	c.mu.Unlock()
	if driver != "" && driver != "json-file" {
		return errdefs.Invalid("configured logging driver does not support reading")
	}
	var until <-chan struct{}
	if opts.Follow && running && exited != nil {
		until = exited
	}
	return readLog(ctx, path, opts, until, out)
}

// logEntry is one line of Docker's json-file log.
type logEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logFiles returns the log's files that exist, oldest first: path.N ...
// path.1, path.
func logFiles(path string) []string {
	var rotated []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		rotated = append(rotated, p)
	}
	out := make([]string, 0, len(rotated)+1)
	for i := len(rotated) - 1; i >= 0; i-- {
		out = append(out, rotated[i])
	}
	return append(out, path)
}

// readLog writes the entries of the log at path that opts selects. When
// follow is non-nil it then keeps reading the live file (across rotations)
// until follow is closed and the file is drained, or ctx ends.
func readLog(ctx context.Context, path string, opts server.LogsOptions, follow <-chan struct{}, out func(server.LogMessage) error) error {
	files := logFiles(path)
	starts, err := tailStarts(files, opts.Tail)
	if err != nil {
		return err
	}
	lr := &logReader{opts: opts, out: out}
	var live *os.File
	defer func() {
		if live != nil {
			live.Close()
		}
	}()
	for i, p := range files {
		last := i == len(files)-1
		if starts[i] < 0 {
			if last && follow != nil {
				// --tail 0 --follow: only what comes from now on.
				if f, err := os.Open(p); err == nil {
					f.Seek(0, io.SeekEnd)
					lr.reset(f)
					live = f
				}
			}
			continue
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away meanwhile, or no output yet
		}
		if err != nil {
			return fmt.Errorf("container log: %w", err)
		}
		if _, err := f.Seek(starts[i], io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("container log %s: %w", p, err)
		}
		lr.reset(f)
		done, err := lr.drain()
		if last && follow != nil && !done && err == nil {
			live = f
			break
		}
		f.Close()
		if done || err != nil {
			return err
		}
	}
	if follow == nil {
		return nil
	}
	return lr.follow(ctx, path, live, follow)
}

// logReader decodes entries from one file at a time, keeping a partly
// written last line for the next read.
type logReader struct {
	opts server.LogsOptions
	out  func(server.LogMessage) error
	f    *os.File
	br   *bufio.Reader
	part []byte // an incomplete line read at the end of the file
}

func (lr *logReader) reset(f *os.File) {
	lr.f = f
	lr.part = lr.part[:0]
	if lr.br == nil {
		lr.br = bufio.NewReaderSize(f, 64<<10)
	} else {
		lr.br.Reset(f)
	}
}

// drain reads complete entries up to the end of the file; done is true
// once an entry past Until was met.
func (lr *logReader) drain() (done bool, err error) {
	for {
		line, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.part = append(lr.part, line...)
			continue
		}
		if err != nil {
			lr.part = append(lr.part, line...) // wait for the rest of the line
			if err == io.EOF {
				return false, nil
			}
			return false, fmt.Errorf("container log: %w", err)
		}
		if len(lr.part) > 0 {
			line = append(lr.part, line...)
			lr.part = lr.part[:0]
		}
		done, err := lr.entry(line)
		if done || err != nil {
			return done, err
		}
	}
}

// entry decodes one line and passes it on when selected.
func (lr *logReader) entry(line []byte) (done bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return false, nil
	}
	var e logEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return false, nil // a torn line (a crash while writing): skip it
	}
	if !lr.opts.Until.IsZero() && e.Time.After(lr.opts.Until) {
		return true, nil
	}
	if !lr.opts.Since.IsZero() && e.Time.Before(lr.opts.Since) {
		return false, nil
	}
	switch e.Stream {
	case "stdout":
		if !lr.opts.Stdout {
			return false, nil
		}
	case "stderr":
		if !lr.opts.Stderr {
			return false, nil
		}
	}
	return false, lr.out(server.LogMessage{Stream: e.Stream, Line: []byte(e.Log), Time: e.Time})
}

// follow polls the live log for new entries. A rotation (path is another
// file now) or truncation is noticed and reading goes on in the new file.
// It ends when stop is closed and the log is drained, ctx ends or Until
// passes.
func (lr *logReader) follow(ctx context.Context, path string, f *os.File, stop <-chan struct{}) error {
	if f == nil {
		f, _ = os.Open(path) // nil until the shim made the file
		if f != nil {
			lr.reset(f)
		}
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		stopped := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			stopped = true
		case <-tick.C:
		}
		if !lr.opts.Until.IsZero() && time.Now().After(lr.opts.Until) {
			stopped = true
		}
		for f != nil {
			done, err := lr.drain()
			if done || err != nil {
				return err
			}
			next, err := lr.switched(f, path)
			if err != nil {
				return err
			}
			if next == f {
				break
			}
			f.Close()
			f = next
		}
		if f == nil {
			if nf, err := os.Open(path); err == nil {
				f = nf
				lr.reset(f)
				continue
			}
		}
		if stopped {
			return nil
		}
	}
}

// switched returns the file to read next: f itself, f rewound when it was
// truncated, or the new live file at path after a rotation.
func (lr *logReader) switched(f *os.File, path string) (*os.File, error) {
	cur, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("container log: %w", err)
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("container log: %w", err)
	}
	// bufio read ahead of what was consumed; EOF was hit, so pos is the
	// file's end as it was then.
	if cur.Size() < pos {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("container log: %w", err)
		}
		lr.reset(f)
		return f, nil
	}
	st, err := os.Stat(path)
	if err != nil || os.SameFile(st, cur) {
		return f, nil // not rotated (or the new file is not there yet)
	}
	nf, err := os.Open(path)
	if err != nil {
		return f, nil
	}
	lr.reset(nf)
	return nf, nil
}

// tailStarts returns, for each file (oldest first), the offset to start
// reading at so that only the last tail entries of all of them are read;
// -1 skips the file. tail < 0 reads everything.
func tailStarts(files []string, tail int) ([]int64, error) {
	starts := make([]int64, len(files))
	if tail < 0 {
		return starts, nil
	}
	need := tail
	for i := len(files) - 1; i >= 0; i-- {
		if need == 0 {
			starts[i] = -1
			continue
		}
		f, err := os.Open(files[i])
		if errors.Is(err, fs.ErrNotExist) {
			starts[i] = -1
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("container log: %w", err)
		}
		off, found, err := tailOffset(f, need)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("container log %s: %w", files[i], err)
		}
		starts[i] = off
		need -= found
	}
	return starts, nil
}

// tailOffset finds where the last n lines of f start, reading backwards
// from the end in blocks; found is how many lines there are from there
// (fewer than n when the file is shorter).
func tailOffset(f *os.File, n int) (offset int64, found int, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	end := st.Size()
	if end == 0 {
		return 0, 0, nil
	}
	const block = 32 << 10
	buf := make([]byte, block)
	pos := end
	skipLast := true // the newline that ends the last line starts no line
	for pos > 0 {
		size := int64(block)
		if pos < size {
			size = pos
		}
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil && err != io.EOF {
			return 0, 0, err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast {
				skipLast = false
				continue
			}
			found++
			if found == n {
				return pos + i + 1, found, nil
			}
		}
	}
	return 0, found + 1, nil
}
