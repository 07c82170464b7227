package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ContainerPause freezes every process of a running container (xrt
// pause: the freezer cgroup).
func (m *Manager) ContainerPause(ctx context.Context, name string) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.State.Status {
	case types.StatePaused:
		return errdefs.Conflict("Container %s is already paused", c.ID)
	case types.StateRunning:
	default:
		return errdefs.Conflict("Container %s is not running", c.ID)
	}
	if err := m.runtime(ctx, c, nil, "pause", c.ID); err != nil {
		return fmt.Errorf("Cannot pause container %s: %w", c.ID, err)
	}
	c.State.Status = types.StatePaused
	if err := m.save(c); err != nil {
		m.log.Warn("saving a paused container", "id", c.ID, "err", err)
	}
	m.cfg.Events(types.ContainerEventType, "pause", c.ID, m.eventAttributes(c))
	return nil
}

// ContainerUnpause thaws a paused container.
func (m *Manager) ContainerUnpause(ctx context.Context, name string) error {
	c, err := m.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.State.Status != types.StatePaused {
		return errdefs.Conflict("Container %s is not paused", c.ID)
	}
	if err := m.resumeLocked(ctx, c); err != nil {
		return err
	}
	m.cfg.Events(types.ContainerEventType, "unpause", c.ID, m.eventAttributes(c))
	return nil
}

// resumeIfPaused thaws c when it is paused, so that a stop or kill can
// reach its processes. The caller holds c.mu.
func (m *Manager) resumeIfPaused(c *Container) error {
	if c.State.Status != types.StatePaused {
		return nil
	}
	if err := m.resumeLocked(m.ctx, c); err != nil {
		return err
	}
	m.cfg.Events(types.ContainerEventType, "unpause", c.ID, m.eventAttributes(c))
	return nil
}

// resumeLocked runs xrt resume and marks c running. The caller holds c.mu.
func (m *Manager) resumeLocked(ctx context.Context, c *Container) error {
	if err := m.runtime(ctx, c, nil, "resume", c.ID); err != nil {
		return fmt.Errorf("Cannot unpause container %s: %w", c.ID, err)
	}
	c.State.Status = types.StateRunning
	if err := m.save(c); err != nil {
		m.log.Warn("saving an unpaused container", "id", c.ID, "err", err)
	}
	return nil
}

// eventAttributes are the attributes of a container's events: its name and
// image, and its labels as Docker adds them.
func (m *Manager) eventAttributes(c *Container) map[string]string {
	attrs := map[string]string{"name": c.Name, "image": c.Image}
	if c.Config != nil {
		for k, v := range c.Config.Labels {
			if _, taken := attrs[k]; !taken {
				attrs[k] = v
			}
		}
	}
	return attrs
}

// runtime runs the container's OCI runtime (xrt unless the container or
// the daemon names another) with xmgr's --root and args, stdin from in.
// Its error message (stderr) becomes the error.
func (m *Manager) runtime(ctx context.Context, c *Container, in io.Reader, args ...string) error {
	_, err := m.runtimeOutput(ctx, c, in, args...)
	return err
}

// runtimeOutput is runtime returning what the command printed.
func (m *Manager) runtimeOutput(ctx context.Context, c *Container, in io.Reader, args ...string) ([]byte, error) {
	name := m.cfg.Runtime
	if c.HostConfig != nil && c.HostConfig.Runtime != "" && c.HostConfig.Runtime != "xrt" {
		name = c.HostConfig.Runtime
	}
	bin, err := findRuntime(name, m.cfg.ShimBinary)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--root", m.runtimeRoot()}, args...)...)
	cmd.Stdin = in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("%s %s: %w", filepath.Base(bin), args[0], err)
	}
	return stdout.Bytes(), nil
}

// findRuntime resolves the runtime as the shim does: a path as given, a
// name in PATH, or (when empty) xrt beside the shim binary, beside this
// executable, then in PATH.
func findRuntime(name, shimBinary string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	if name != "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("runtime %q not found in PATH", name)
		}
		return p, nil
	}
	var dirs []string
	if shimBinary != "" {
		dirs = append(dirs, filepath.Dir(shimBinary))
	}
	if self, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(self))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "xrt")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("xrt")
	if err != nil {
		return "", errors.New("runtime xrt not found beside xmgr nor in PATH")
	}
	return p, nil
}
