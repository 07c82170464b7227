package container

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Pids lists the host pids of every process in the container's cgroup,
// sorted.
func (c *Container) Pids() ([]int, error) {
	if st := c.Status(); st == rspec.StateStopped || st == rspec.StateCreating {
		return nil, fmt.Errorf("cannot list the processes of container %s: it is %s: %w", c.ID, st, ErrState)
	}
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	pids, err := m.Procs()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// FilterPs keeps, of ps(1)'s output, the header and the lines of the
// given pids, found in the column headed PID, as runc's ps does.
func FilterPs(out []byte, pids []int) ([]byte, error) {
	s := bufio.NewScanner(bytes.NewReader(out))
	s.Buffer(make([]byte, 0, 64*1024), 1<<20)
	if !s.Scan() {
		return nil, fmt.Errorf("ps printed nothing")
	}
	header := s.Text()
	col := slices.Index(strings.Fields(header), "PID")
	if col < 0 {
		return nil, fmt.Errorf("ps output has no PID column (header %q): keep pid among the -o fields", header)
	}
	want := make(map[int]bool, len(pids))
	for _, p := range pids {
		want[p] = true
	}
	var b bytes.Buffer
	b.WriteString(header + "\n")
	for s.Scan() {
		line := s.Text()
		f := strings.Fields(line)
		if col >= len(f) {
			continue
		}
		pid, err := strconv.Atoi(f[col])
		if err != nil {
			return nil, fmt.Errorf("ps output: PID column %q in %q is not a number", f[col], line)
		}
		if want[pid] {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes(), s.Err()
}
