package containers

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ContainerTop runs the host's ps with psArgs (default "-ef") and keeps
// the rows of the container's processes (those in its cgroup), as Docker
// does.
func (m *Manager) ContainerTop(ctx context.Context, name, psArgs string) (*types.ContainerTopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	if err := checkPSArgs(psArgs); err != nil {
		return nil, err
	}
	c, err := m.get(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	id, status := c.ID, c.State.Status
	c.mu.Unlock()
	switch status {
	case types.StateRunning, types.StatePaused:
	case types.StateRestarting:
		return nil, errdefs.Conflict("Container %s is restarting, wait until the container is running", id)
	default:
		return nil, errdefs.Conflict("Container %s is not running", id)
	}
	pids, err := m.containerCgroups(id).pids()
	if err != nil {
		return nil, fmt.Errorf("top: the container's processes: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...)
	cmd.Stderr = &stderr
	output, err := cmd.Output()
	if err != nil {
		return nil, errdefs.Invalid("Error running ps: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parsePS(output, pids)
}

// psFieldArg catches ps's "-o field=PID" renames: only pid may be renamed
// to PID, or the PID column could not be found.
var psFieldArg = regexp.MustCompile(`\s+([^\s]*)=\s*(PID[^\s]*)`)

func checkPSArgs(args string) error {
	for _, g := range psFieldArg.FindAllStringSubmatch(args, -1) {
		if g[1] != "pid" {
			return errdefs.Invalid("specifying \"%s=%s\" is not allowed", g[1], g[2])
		}
	}
	return nil
}

// parsePS keeps the rows of ps's output whose PID is one of pids. The
// titles are the header's words; the last column (the command) takes the
// rest of the row. A row with PID "-" (a thread, with ps -m) belongs to
// the process above it.
func parsePS(output []byte, pids []int) (*types.ContainerTopResponse, error) {
	lines := strings.Split(string(output), "\n")
	top := &types.ContainerTopResponse{Titles: strings.Fields(lines[0]), Processes: [][]string{}}
	pidCol := slices.Index(top.Titles, "PID")
	if pidCol < 0 {
		return nil, errdefs.Invalid("Couldn't find PID field in ps output")
	}
	n := len(top.Titles)
	keepThreads := false
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) <= pidCol {
			continue
		}
		if fields[pidCol] == "-" {
			if keepThreads {
				top.Processes = append(top.Processes, psRow(fields, n))
			}
			continue
		}
		pid, err := strconv.Atoi(fields[pidCol])
		if err != nil {
			return nil, fmt.Errorf("Unexpected pid '%s': %v", fields[pidCol], err)
		}
		keepThreads = slices.Contains(pids, pid)
		if keepThreads {
			top.Processes = append(top.Processes, psRow(fields, n))
		}
	}
	return top, nil
}

// psRow joins the fields past the titles' count into the last column.
func psRow(fields []string, titles int) []string {
	if len(fields) < titles {
		return fields
	}
	row := append([]string(nil), fields[:titles-1]...)
	return append(row, strings.Join(fields[titles-1:], " "))
}
