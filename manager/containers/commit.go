package containers

import (
	"context"
	"fmt"
	"io"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/build"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
)

// ContainerCommit makes an image of the container's changes on top of its
// image (docker commit) and returns the image's ID. A running container is
// paused meanwhile when opts.Pause.
func (m *Manager) ContainerCommit(ctx context.Context, name string, opts server.CommitOptions) (string, error) {
	c, err := m.get(name)
	if err != nil {
		return "", err
	}
	if m.cfg.Images == nil || m.cfg.Layers == nil {
		return "", fmt.Errorf("commit: no image service")
	}
	ref := ""
	if opts.Repo != "" {
		ref = opts.Repo
		if opts.Tag != "" {
			ref += ":" + opts.Tag
		}
	} else if opts.Tag != "" {
		return "", errdefs.Invalid("commit: a tag needs a repository")
	}

	c.mu.Lock()
	status, imageID, key, chainID := c.State.Status, c.ImageID, c.SnapshotKey, c.ChainID
	ccfg := types.ContainerConfig{}
	if c.Config != nil {
		ccfg = *c.Config
	}
	attrs := m.eventAttributes(c)
	c.mu.Unlock()
	if status == types.StateRemoving || status == types.StateDead {
		return "", errdefs.Conflict("You cannot commit container %s which is being removed", c.ID)
	}

	cfg, err := commitConfig(opts, ccfg)
	if err != nil {
		return "", err
	}
	var parent *images.Image
	if imageID != "" {
		if parent, err = m.cfg.Images.Resolve(imageID); err != nil {
			return "", fmt.Errorf("commit: the container's image: %w", err)
		}
	}

	if opts.Pause && status == types.StateRunning {
		switch err := m.ContainerPause(ctx, c.ID); {
		case err == nil:
			defer func() {
				if err := m.ContainerUnpause(context.WithoutCancel(ctx), c.ID); err != nil && !errdefs.IsConflict(err) {
					m.log.Warn("unpausing after commit", "id", c.ID, "err", err)
				}
			}()
		case !errdefs.IsConflict(err): // paused or stopped meanwhile: go on
			return "", err
		}
	}

	pr, pw := io.Pipe()
	go func() {
		// The layer store writes the snapshot's changes as a layer,
		// leaving out the runtime's mount points (the init layer).
		pw.CloseWithError(m.cfg.Layers.Diff(ctx, pw, key, digest.Digest(chainID)))
	}()
	h := ocispec.History{CreatedBy: strings.Join(ccfg.Cmd, " "), Comment: opts.Comment, Author: opts.Author}
	img, err := m.cfg.Images.CommitConfig(ctx, parent, pr, cfg, h, ref)
	pr.CloseWithError(err)
	if err != nil {
		return "", err
	}
	attrs["comment"] = opts.Comment
	m.cfg.Events(types.ContainerEventType, "commit", c.ID, attrs)
	return img.ID.String(), nil
}

// commitConfig is the new image's config, as Docker makes it: the
// request's config (else the container's) with the --change instructions
// applied, and what it leaves unset taken from the container's config.
func commitConfig(opts server.CommitOptions, container types.ContainerConfig) (dockerspec.DockerOCIImageConfig, error) {
	base := container
	if opts.Config != nil {
		base = *opts.Config
	}
	cfg := imageConfigOf(base)
	if err := build.ApplyChanges(&cfg, opts.Changes); err != nil {
		return cfg, err
	}
	from := imageConfigOf(container)
	if cfg.User == "" {
		cfg.User = from.User
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = from.WorkingDir
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = from.StopSignal
	}
	if len(cfg.Entrypoint) == 0 {
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = from.Cmd
		}
		if cfg.Entrypoint == nil {
			cfg.Entrypoint = from.Entrypoint
		}
	}
	if cfg.Healthcheck == nil {
		cfg.Healthcheck = from.Healthcheck
	}
	if len(cfg.Shell) == 0 {
		cfg.Shell = from.Shell
	}
	cfg.Env = mergeEnvVars(from.Env, cfg.Env)
	cfg.ExposedPorts = unionSet(from.ExposedPorts, cfg.ExposedPorts)
	cfg.Volumes = unionSet(from.Volumes, cfg.Volumes)
	if len(from.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range from.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	return cfg, nil
}

func unionSet(a, b map[string]struct{}) map[string]struct{} {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := map[string]struct{}{}
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}

// imageConfigOf is the image part of a container's config, with
// Docker's extensions (health check, ONBUILD, shell).
func imageConfigOf(c types.ContainerConfig) dockerspec.DockerOCIImageConfig {
	cfg := dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
		User: c.User, Env: append([]string(nil), c.Env...), Cmd: append([]string(nil), c.Cmd...),
		WorkingDir: c.WorkingDir, StopSignal: c.StopSignal,
	}}
	if c.Entrypoint != nil {
		cfg.Entrypoint = append([]string{}, c.Entrypoint...)
	}
	if len(c.Labels) > 0 {
		cfg.Labels = map[string]string{}
		for k, v := range c.Labels {
			cfg.Labels[k] = v
		}
	}
	cfg.ExposedPorts = unionSet(nil, c.ExposedPorts)
	cfg.Volumes = unionSet(nil, c.Volumes)
	cfg.OnBuild = append([]string(nil), c.OnBuild...)
	cfg.Shell = append([]string(nil), c.Shell...)
	if h := c.Healthcheck; h != nil {
		cfg.Healthcheck = &dockerspec.HealthcheckConfig{
			Test: append([]string(nil), h.Test...), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	}
	return cfg
}
