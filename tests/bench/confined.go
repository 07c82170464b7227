package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xrt-dev/xrt/specs"
)

// Limits of the run-confined scenario: generous enough that /bin/true never
// meets them, so the scenario measures the cost of setting them up.
const (
	confinedMemory = 256 << 20
	confinedPids   = 128
)

// deriveBundle makes a bundle in dir whose config.json is base's (the one
// writeSpec wrote) with the root at rootfs (absolute, shared with the base
// bundle) and edit applied.
func deriveBundle(base, dir, rootfs string, edit func(spec map[string]any) error) error {
	data, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	root, ok := spec["root"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json: root is missing or not an object")
	}
	root["path"] = rootfs
	if err := edit(spec); err != nil {
		return err
	}
	if data, err = json.MarshalIndent(spec, "", "\t"); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

// confine adds Docker's kind of default seccomp profile (specs.DefaultSeccomp)
// and memory and pids limits to a spec.
func confine(spec map[string]any) error {
	linux, ok := spec["linux"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json: linux is missing or not an object")
	}
	// Through JSON, so the profile reads as config.json would hold it.
	data, err := json.Marshal(specs.DefaultSeccomp())
	if err != nil {
		return err
	}
	var profile map[string]any
	if err := json.Unmarshal(data, &profile); err != nil {
		return err
	}
	linux["seccomp"] = profile
	res, _ := linux["resources"].(map[string]any)
	if res == nil {
		res = map[string]any{}
		linux["resources"] = res
	}
	res["memory"] = map[string]any{"limit": confinedMemory}
	res["pids"] = map[string]any{"limit": confinedPids}
	return nil
}

// sleeper makes the process sleep, for a container to exec into.
func sleeper(spec map[string]any) error {
	process, ok := spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json: process is missing or not an object")
	}
	process["args"] = []string{"/bin/sleep", "1000000"}
	return nil
}

// execInto times `exec <id> /bin/true` into a running container of each
// runtime, alternating as the other scenarios do. Each runtime gets one
// container, started detached before and force-deleted after.
func execInto(ctx context.Context, rts []*runtimeBin, bundle string, n, warmup int) (row, error) {
	r := row{name: "exec"}
	ids := map[*runtimeBin]string{}
	defer func() {
		for rt, id := range ids {
			_, _ = rt.timed("delete", "--force", id)
		}
	}()
	for _, rt := range rts {
		rt.seq++
		id := fmt.Sprintf("bench-exec-%d", rt.seq)
		if _, err := rt.timed("run", "--detach", "--bundle", bundle, id); err != nil {
			return r, err
		}
		ids[rt] = id
	}
	err := alternate(ctx, rts, n, warmup, func(rt *runtimeBin, _ string, keep bool) error {
		d, err := rt.timed("exec", ids[rt], "/bin/true")
		if err != nil {
			return err
		}
		if keep {
			rt.add(&r, d)
		}
		return nil
	})
	return r, err
}
