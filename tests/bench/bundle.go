package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// makeRootfs fills dir with a minimal busybox root: /bin/busybox, the applets the
// benchmark runs, and the mount points of the default spec, so that neither runtime
// pays for creating them on its first run.
func makeRootfs(dir, busybox string) error {
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(busybox, filepath.Join(dir, "bin", "busybox")); err != nil {
		return err
	}
	for _, applet := range []string{"true", "sh", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// writeSpec writes bundle/config.json from the `spec` command of the first runtime
// whose spec works, edited by editSpec. It returns the runtime that wrote it.
func writeSpec(bundle string, runtimes ...string) (string, error) {
	config := filepath.Join(bundle, "config.json")
	var errs []error
	for _, rt := range runtimes {
		cmd := exec.Command(rt, "spec")
		cmd.Dir = bundle
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s spec: %w: %s", rt, err, out))
			os.Remove(config)
			continue
		}
		data, err := os.ReadFile(config)
		if err == nil {
			data, err = editSpec(data)
		}
		if err == nil {
			err = os.WriteFile(config, data, 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s spec: %w", rt, err))
			os.Remove(config)
			continue
		}
		return rt, nil
	}
	return "", errors.Join(errs...)
}

// editSpec makes a default spec run /bin/true from ./rootfs, without a terminal and
// with a writable root. The rest of the spec stays as the runtime wrote it, which is
// why it is edited as a generic map rather than through typed structs.
func editSpec(data []byte) ([]byte, error) {
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	process, ok := spec["process"].(map[string]any)
	if !ok {
		return nil, errors.New("config.json: process is missing or not an object")
	}
	process["args"] = []string{"/bin/true"}
	process["terminal"] = false
	root, ok := spec["root"].(map[string]any)
	if !ok {
		return nil, errors.New("config.json: root is missing or not an object")
	}
	root["path"] = "rootfs"
	root["readonly"] = false
	return json.MarshalIndent(spec, "", "\t")
}
