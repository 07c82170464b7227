package build

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
)

// emptyTar is a tar with no entries: a step that changes no file.
var emptyTar = make([]byte, 1024)

// cacheKey is what Docker's cache compares between a step's run config
// and an earlier image's container config, for children of the same
// parent: the command (which holds the instruction), entrypoint, env,
// labels, ports, volumes, user and working directory.
func cacheKey(rc *types.ContainerConfig) string {
	k := struct {
		Cmd, Entrypoint, Env []string
		Labels               map[string]string
		ExposedPorts         []string
		Volumes              []string
		User, WorkingDir     string
		Tty, OpenStdin       bool
	}{
		Cmd: rc.Cmd, Entrypoint: rc.Entrypoint, Env: rc.Env, Labels: rc.Labels,
		ExposedPorts: sortedKeys(rc.ExposedPorts), Volumes: sortedKeys(rc.Volumes),
		User: rc.User, WorkingDir: rc.WorkingDir, Tty: rc.Tty, OpenStdin: rc.OpenStdin,
	}
	b, _ := json.Marshal(k)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// parentID is the cache's name for a stage's current image.
func (st *stage) parentID() digest.Digest {
	if st.image == nil {
		return ""
	}
	return st.image.ID
}

// probe looks the step up in the cache (and the --cache-from sources,
// cachefrom.go); on a hit the stage moves to the cached image.
func (bd *build) probe(st *stage, probe *types.ContainerConfig) (bool, error) {
	if bd.opts.NoCache || st.cacheBust {
		return false, nil
	}
	img, err := bd.cached(st, probe)
	if err != nil {
		return false, err
	}
	if img == nil {
		st.cacheBust = true
		return false, nil
	}
	bd.out.printf(" ---> Using cache\n")
	st.image = img
	return true, nil
}

// withComment is the run config with Docker's "#(nop)" command for a step
// that runs nothing. Docker gives most instructions a two-word comment
// ("#(nop) ", "ENV a=b"); WORKDIR, COPY and ADD a single word.
func withComment(rc *types.ContainerConfig, comment string, oneWord bool) *types.ContainerConfig {
	c := copyRunConfig(rc)
	if oneWord {
		c.Cmd = append(shellOf(rc), "#(nop) "+comment)
	} else {
		c.Cmd = append(shellOf(rc), "#(nop) ", comment)
	}
	return c
}

// commitConfig ends a step that changes only the config: a new image
// with no layer, its history entry marked empty.
func (bd *build) commitConfig(st *stage, comment string) error {
	if bd.noCommit {
		return nil
	}
	probe := withComment(&st.runConfig, comment, false)
	if hit, err := bd.probe(st, probe); err != nil || hit {
		return err
	}
	return bd.commit(st, bytes.NewReader(emptyTar), probe)
}

// commit makes the step's image: the stage's image plus the layer read
// from layerTar (no entries: none), the stage's run config, and a history
// entry from the step's container config, then records it in the cache.
func (bd *build) commit(st *stage, layerTar io.Reader, containerCfg *types.ContainerConfig) error {
	h := ocispec.History{CreatedBy: strings.Join(containerCfg.Cmd, " "), Author: st.maintainer}
	img, err := bd.b.cfg.Images.CommitConfig(bd.ctx, st.image, layerTar, imageConfigOf(&st.runConfig), h, "")
	if err != nil {
		return err
	}
	if err := bd.b.cfg.Images.CachePut(st.parentID(), img.ID, cacheKey(containerCfg)); err != nil {
		bd.b.cfg.Log.Warn("build cache: recording a step", "image", img.ID, "err", err)
	}
	st.image = img
	return nil
}

func copyRunConfig(rc *types.ContainerConfig) *types.ContainerConfig {
	c := *rc
	c.Cmd, c.Entrypoint = slices.Clone(rc.Cmd), slices.Clone(rc.Entrypoint)
	c.Env, c.OnBuild, c.Shell = slices.Clone(rc.Env), slices.Clone(rc.OnBuild), slices.Clone(rc.Shell)
	c.Labels = cloneMap(rc.Labels)
	c.ExposedPorts, c.Volumes = cloneMap(rc.ExposedPorts), cloneMap(rc.Volumes)
	return &c
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runConfigOf is a stage's starting run config: its base image's config.
func runConfigOf(cfg dockerspec.DockerOCIImageConfig) types.ContainerConfig {
	rc := types.ContainerConfig{
		User: cfg.User, Env: slices.Clone(cfg.Env), Cmd: slices.Clone(cfg.Cmd),
		Entrypoint: slices.Clone(cfg.Entrypoint), WorkingDir: cfg.WorkingDir,
		Labels: cloneMap(cfg.Labels), StopSignal: cfg.StopSignal,
		ExposedPorts: cloneMap(cfg.ExposedPorts), Volumes: cloneMap(cfg.Volumes),
		OnBuild: slices.Clone(cfg.OnBuild), Shell: slices.Clone(cfg.Shell),
		ArgsEscaped: cfg.ArgsEscaped, //nolint:staticcheck // Docker's field
	}
	if h := cfg.Healthcheck; h != nil {
		rc.Healthcheck = &types.HealthConfig{
			Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	}
	return rc
}

// imageConfigOf is the image config a stage's run config commits.
func imageConfigOf(rc *types.ContainerConfig) dockerspec.DockerOCIImageConfig {
	cfg := dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{
			User: rc.User, Env: slices.Clone(rc.Env), Cmd: slices.Clone(rc.Cmd),
			Entrypoint: slices.Clone(rc.Entrypoint), WorkingDir: rc.WorkingDir,
			Labels: cloneMap(rc.Labels), StopSignal: rc.StopSignal,
			ExposedPorts: cloneMap(rc.ExposedPorts), Volumes: cloneMap(rc.Volumes),
			ArgsEscaped: rc.ArgsEscaped, //nolint:staticcheck // Docker's field
		},
	}
	cfg.OnBuild, cfg.Shell = slices.Clone(rc.OnBuild), slices.Clone(rc.Shell)
	if h := rc.Healthcheck; h != nil {
		cfg.Healthcheck = &dockerspec.HealthcheckConfig{
			Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	}
	return cfg
}

// parsePorts reads EXPOSE's words into port keys.
func parsePorts(words []string) ([]string, error) {
	var out []string
	for _, w := range words {
		ps, err := images.ParsePorts(w)
		if err != nil {
			return nil, errdefs.Invalid("%v", err)
		}
		out = append(out, ps...)
	}
	return out, nil
}
