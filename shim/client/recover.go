package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Recovered is one container found under a state root by Recover: exactly
// one of Shim (its shim answers), Exit (its shim is gone and left the exit
// status) and Err (neither: the shim died without recording an exit) is set.
type Recovered struct {
	ID   string // from shim.json; the directory name when that is unreadable
	Dir  string
	Shim *Shim
	Exit *ExitStatus
	Err  error
}

// info is the part of shim.json Recover reads.
type info struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Pid     int    `json:"pid"`
	ShimPid int    `json:"shim_pid"`
}

// Recover looks at every state directory under root (<root>/<dir>/ with a
// shim.json) and reconnects to each live shim, or reads the exit status
// of each container whose shim is gone. Directories without shim.json
// (not a shim's, or a start that failed) are skipped.
func Recover(ctx context.Context, root string) ([]Recovered, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("recover shims under %s: %w", root, err)
	}
	var out []Recovered
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, infoName))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		r := Recovered{ID: e.Name(), Dir: dir}
		var in info
		if err == nil {
			err = json.Unmarshal(data, &in)
		}
		if err == nil && in.Version != 1 {
			err = fmt.Errorf("version %d is not supported (this client reads 1)", in.Version)
		}
		if err != nil {
			r.Err = fmt.Errorf("%s: %w", filepath.Join(dir, infoName), err)
			out = append(out, r)
			continue
		}
		if in.ID != "" {
			r.ID = in.ID
		}
		if s, cerr := Connect(ctx, dir); cerr == nil {
			r.Shim = s
		} else if ex, xerr := ReadExit(dir); xerr == nil {
			r.Exit = &ex
		} else {
			r.Err = fmt.Errorf("container %s: the shim (pid %d) does not answer (%v) and left no exit status", r.ID, in.ShimPid, cerr)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
