package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
)

// runStep is RUN: the command runs in a container of the stage's image
// with the build args in its environment; its changes become the layer.
func (bd *build) runStep(st *stage, c *instructions.RunCommand) error {
	cmd := bd.commandLine(st, c.ShellDependantCmdLine)
	buildEnv := bd.args.filtered(st.runConfig.Env)
	saveCmd := cmd
	if len(buildEnv) > 0 {
		saveCmd = bd.prependArgs(buildEnv, cmd)
	}
	probe := copyRunConfig(&st.runConfig)
	probe.Cmd = saveCmd
	if len(saveCmd) > 0 {
		probe.Entrypoint = nil
	}
	if hit, err := bd.probe(st, probe); err != nil || hit {
		return err
	}
	if st.image == nil {
		return errdefs.Invalid("RUN needs an image with a shell or a program to run: this stage is FROM scratch with nothing in it")
	}

	rc := copyRunConfig(&st.runConfig)
	rc.Cmd = cmd
	rc.Env = append(rc.Env, buildEnv...)
	rc.Entrypoint = []string{}
	rc.Healthcheck = &types.HealthConfig{Test: []string{"NONE"}}
	rc.Image = st.image.ID.String()
	rc.AttachStdout, rc.AttachStderr = true, true
	rc.OnBuild = nil
	// The label marks it as a step's: a daemon restarting after a crash
	// removes such containers, whose build is gone. (The image's config
	// is the stage's, so the label stays out of it.)
	rc.Labels = cloneMap(rc.Labels)
	if rc.Labels == nil {
		rc.Labels = map[string]string{}
	}
	rc.Labels[stepLabel] = "true"

	hc := bd.hostConfig()
	var scriptDir string
	if name, body, ok := shebangScript(c.ShellDependantCmdLine); ok {
		mount, dir, err := bd.scriptMount(name, body)
		if err != nil {
			return err
		}
		scriptDir = dir
		hc.Mounts = []types.Mount{mount}
		rc.Cmd = []string{mount.Target}
	}
	removeScript := func() {
		if scriptDir != "" {
			os.RemoveAll(scriptDir)
		}
	}

	ctrs := bd.b.cfg.Containers
	t0 := time.Now()
	resp, err := ctrs.ContainerCreate(bd.ctx, "", &types.ContainerCreateRequest{ContainerConfig: *rc, HostConfig: hc})
	if err != nil {
		removeScript()
		return err
	}
	id := resp.ID
	remove := func() {
		if err := ctrs.ContainerRemove(context.WithoutCancel(bd.ctx), id, true, true); err != nil && !errdefs.IsNotFound(err) {
			bd.b.cfg.Log.Warn("build: removing a step's container", "id", id, "err", err)
		}
		removeScript()
	}
	background := false
	defer func() {
		if !background {
			remove()
		}
	}()
	bd.out.printf(" ---> Running in %s\n", id[:12])

	created := time.Since(t0)
	code, err := bd.runContainer(id)
	ran := time.Since(t0)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{cmd: cmd, code: code}
	}
	key, parent, err := ctrs.ContainerSnapshot(id)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(bd.b.cfg.Layers.Diff(bd.ctx, pw, key, parent)) }()
	err = bd.commit(st, pr, probe)
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	bd.b.cfg.Log.Debug("build: RUN step", "container", id, "created", created, "ran", ran, "committed", time.Since(t0))
	// The container goes while the next step runs; the build waits for
	// it before it answers.
	background = true
	bd.removing.Add(1)
	go func() {
		defer bd.removing.Done()
		remove()
	}()
	// Docker keeps step containers with --rm=false; xmgr never leaves one.
	bd.out.printf("Removing intermediate container %s\n", id[:12])
	return nil
}

// scriptMount writes a heredoc script into a directory of its own under
// TempDir (which a restarting daemon empties) and returns the read-only
// bind that puts it at /dev/pipes/<name> in the step's container.
func (bd *build) scriptMount(name, body string) (types.Mount, string, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return types.Mount{}, "", errdefs.Invalid("heredoc name %q cannot name a file", name)
	}
	dir, err := os.MkdirTemp(bd.b.cfg.TempDir, "heredoc-")
	if err != nil {
		return types.Mount{}, "", err
	}
	file := filepath.Join(dir, name)
	err = os.WriteFile(file, []byte(body), 0o755)
	if err == nil {
		err = os.Chmod(file, 0o755) // whatever the umask: any USER runs it
	}
	if err != nil {
		os.RemoveAll(dir)
		return types.Mount{}, "", err
	}
	return types.Mount{Type: "bind", Source: file, Target: "/dev/pipes/" + name, ReadOnly: true}, dir, nil
}

// stepLabel marks the containers RUN steps run in.
const stepLabel = "xmgr.build.step"

// runContainer attaches to, starts and waits for a step's container, its
// output going to the build's stream; it returns the exit code.
func (bd *build) runContainer(id string) (int, error) {
	ctrs := bd.b.cfg.Containers
	ctx, cancel := context.WithCancel(bd.ctx)
	defer cancel()
	w := bd.out.stream()
	attached := make(chan error, 1)
	go func() {
		attached <- ctrs.ContainerAttach(ctx, id, server.AttachOptions{
			AttachStreams: server.AttachStreams{Stdout: w, Stderr: w},
			Stream:        true,
		})
	}()
	waitc, err := ctrs.ContainerWait(ctx, id, "next-exit")
	if err != nil {
		return 0, err
	}
	if err := ctrs.ContainerStart(ctx, id); err != nil {
		return 0, err
	}
	var res types.ContainerWaitResponse
	select {
	case res = <-waitc:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// The attach ends with the output: all of it is sent before the
	// step's result.
	if err := <-attached; err != nil && !errors.Is(err, context.Canceled) {
		bd.b.cfg.Log.Debug("build: attach ended", "id", id, "err", err)
	}
	if res.Error != nil && res.Error.Message != "" {
		return 0, fmt.Errorf("%s", res.Error.Message)
	}
	return int(res.StatusCode), nil
}

func (bd *build) networkMode() string {
	switch bd.opts.NetworkMode {
	case "", "default":
		return "bridge"
	}
	return bd.opts.NetworkMode
}

// prependArgs is Docker's "|N A=1 B=2 cmd..." form of a RUN command with
// build args, for the cache key and the history: the args' values change
// the step, an unreferenced proxy arg does not.
func (bd *build) prependArgs(buildEnv, cmd []string) []string {
	var kept []string
	for _, kv := range buildEnv {
		k, _, _ := strings.Cut(kv, "=")
		if bd.args.inKey(k) {
			kept = append(kept, kv)
		}
	}
	sort.Strings(kept)
	out := append([]string{fmt.Sprintf("|%d", len(kept))}, kept...)
	return append(out, cmd...)
}
