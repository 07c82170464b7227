package cgroups

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeFile writes one value to a cgroup control file. It never creates
// the file: a missing file means the kernel lacks that knob.
func writeFile(dir, name, value string) error {
	p := dir + "/" + name
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// readFile reads a small control file without its trailing newline.
func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(dir + "/" + name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// removeTree removes cgroup directories and any cgroups below them. Only
// directories can be removed on a cgroup file system (rmdir), and the
// kernel answers EBUSY for a short while after the last process has
// exited, so the busy ones are retried, together, for up to about 2s (a
// loaded machine reaps late: 250ms left cgroups behind now and then).
func removeTree(dirs ...string) error {
	var errs []error
	delay := time.Millisecond
	for attempt := 0; ; attempt++ {
		var busy []string
		for _, d := range dirs {
			if err := rmdirTree(d); errors.Is(err, unix.EBUSY) {
				busy = append(busy, d)
			} else if err != nil {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
		if len(busy) == 0 {
			break
		}
		if attempt == 11 {
			for _, d := range busy {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w (processes left in it?)", d, unix.EBUSY))
			}
			break
		}
		time.Sleep(delay)
		delay *= 2
		dirs = busy
	}
	return errors.Join(errs...)
}

// rmdirTree makes one attempt at removing dir and the cgroups below it.
func rmdirTree(dir string) error {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
		return err
	}
	entries, rerr := os.ReadDir(dir)
	if rerr != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := rmdirTree(dir + "/" + e.Name()); err != nil {
				return err
			}
		}
	}
	err = unix.Rmdir(dir)
	switch {
	case err == nil || errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTEMPTY):
		return unix.EBUSY
	}
	return err
}

// readProcs appends the pids in dir's cgroup.procs and in every cgroup
// below it.
func readProcs(dir string, out []int) ([]int, error) {
	b, err := os.ReadFile(dir + "/cgroup.procs")
	if err != nil {
		return out, fmt.Errorf("list processes: %w", err)
	}
	for _, line := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(line)
		if err != nil {
			return out, fmt.Errorf("list processes: %s/cgroup.procs: %w", dir, err)
		}
		out = append(out, pid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out, fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if out, err = readProcs(dir+"/"+e.Name(), out); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// readFlatKeyed reads a "key value" file such as memory.stat; a file that
// cannot be read gives an empty map, as stats are best effort.
func readFlatKeyed(dir, name string) map[string]uint64 {
	m := make(map[string]uint64)
	b, err := os.ReadFile(dir + "/" + name)
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}
