package build

import (
	"context"
	"fmt"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/api/server"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/build/buildcontext"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/images"
	"github.com/xrt-dev/xrt/specs"
)

// build is one build's state.
type build struct {
	b       *Builder
	ctx     context.Context
	opts    server.BuildOptions
	out     *output
	df      *dockerfile
	context *buildcontext.Context
	args    *buildArgs
	// cacheFrom holds the --cache-from sources (cachefrom.go); nil: none.
	cacheFrom *cacheFrom

	stages  map[string]*stage        // by lower-case name
	built   []*stage                 // in order, for COPY --from=<index>
	mounted map[digest.Digest]string // images COPY --from mounted, by ID
	step    int
	total   int

	cleanups []func()
	removing sync.WaitGroup // step containers being removed
	// noCommit runs instructions on the run config alone (--change).
	noCommit bool
}

// stage is the state of the stage being built: Docker's dispatchState.
type stage struct {
	name       string
	image      *images.Image // nil: FROM scratch, nothing committed yet
	runConfig  types.ContainerConfig
	cmdSet     bool // CMD given in this stage (an ENTRYPOINT then keeps it)
	maintainer string
	cacheBust  bool // a step missed the cache: later ones cannot hit
}

func (bd *build) cleanup() {
	bd.removing.Wait()
	for i := len(bd.cleanups) - 1; i >= 0; i-- {
		bd.cleanups[i]()
	}
}

// run builds the stages and returns the last one's image.
func (bd *build) run(stages []instructions.Stage) (*images.Image, error) {
	for i := range bd.df.metaArgs {
		a := &bd.df.metaArgs[i]
		bd.stepLine(a.String())
		lex := bd.lex()
		for _, kv := range a.Args {
			var def *string
			if kv.Value != nil {
				v, _, err := lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(bd.args.metaEnv()))
				if err != nil {
					return nil, stepFailed(bd.df.name, a.Location(), err)
				}
				def = &v
			}
			bd.args.addMeta(kv.Key, def)
		}
	}
	var last *stage
	for i := range stages {
		s := &stages[i]
		st, err := bd.from(s)
		if err != nil {
			return nil, stepFailed(bd.df.name, s.Location, err)
		}
		for _, c := range s.Commands {
			bd.stepLine(fmt.Sprint(c))
			if err := bd.dispatch(st, c); err != nil {
				return nil, stepFailed(bd.df.name, c.Location(), err)
			}
			bd.out.printf(" ---> %s\n", st.shortID())
		}
		if st.image == nil {
			return nil, stepFailed(bd.df.name, s.Location, errdefs.Invalid("No image was generated. Is your Dockerfile empty?"))
		}
		bd.built = append(bd.built, st)
		if s.Name != "" {
			bd.stages[strings.ToLower(s.Name)] = st
		}
		last = st
	}
	return last.image, nil
}

func (st *stage) shortID() string {
	if st.image == nil {
		return "<scratch>"
	}
	return images.ShortID(st.image.ID)
}

func (bd *build) stepLine(s string) {
	bd.step++
	bd.out.printf("Step %d/%d : %s\n", bd.step, bd.total, s)
}

func (bd *build) lex() *shell.Lex { return shell.NewLex(bd.df.escape) }

// platformArgs are the BuildKit platform ARGs FROM lines may use.
func platformArgs() []string {
	p := "linux/" + runtime.GOARCH
	return []string{
		"BUILDPLATFORM=" + p, "BUILDOS=linux", "BUILDARCH=" + runtime.GOARCH,
		"TARGETPLATFORM=" + p, "TARGETOS=linux", "TARGETARCH=" + runtime.GOARCH,
	}
}

// from begins a stage: its base image (an earlier stage, scratch, or an
// image, pulled when missing or with --pull), then the base's ONBUILD
// triggers.
func (bd *build) from(s *instructions.Stage) (*stage, error) {
	bd.stepLine(s.SourceCode)
	bd.args.resetStage()
	env := append(bd.args.metaEnv(), platformArgs()...)
	lex := bd.lex()
	if s.Platform != "" {
		p, _, err := lex.ProcessWord(s.Platform, shell.EnvsFromSlice(env))
		if err != nil {
			return nil, fmt.Errorf("failed to process arguments for platform %s: %w", s.Platform, err)
		}
		if err := checkPlatform(p); err != nil {
			return nil, err
		}
	}
	name, _, err := lex.ProcessWord(s.BaseName, shell.EnvsFromSlice(env))
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errdefs.Invalid("base name (%s) should not be blank", s.BaseName)
	}
	st := &stage{name: s.Name}
	if prev, ok := bd.stages[strings.ToLower(name)]; ok {
		st.image = prev.image
	} else if name != "scratch" {
		if st.image, err = bd.image(name); err != nil {
			return nil, err
		}
	}
	if st.image != nil {
		cfg := images.ConfigOf(st.image)
		st.runConfig = runConfigOf(cfg)
	}
	// Like Docker, every stage (FROM scratch too) has a PATH.
	if !envHas(st.runConfig.Env, "PATH") {
		st.runConfig.Env = append(st.runConfig.Env, "PATH="+defaultPath)
	}
	bd.out.printf(" ---> %s\n", st.shortID())
	if triggers := st.runConfig.OnBuild; len(triggers) > 0 {
		// They run now, and the stage's image does not inherit them.
		st.runConfig.OnBuild = nil
		if err := bd.runTriggers(st, triggers); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// runTriggers runs the base image's ONBUILD instructions in the stage.
func (bd *build) runTriggers(st *stage, triggers []string) error {
	plural := ""
	if len(triggers) > 1 {
		plural = "s"
	}
	bd.out.printf("# Executing %d build trigger%s\n", len(triggers), plural)
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return fmt.Errorf("ONBUILD trigger %q: %w", t, err)
		}
		if len(res.AST.Children) != 1 {
			return fmt.Errorf("onbuild trigger should be a single expression")
		}
		c, err := instructions.ParseCommand(res.AST.Children[0])
		if err != nil {
			return fmt.Errorf("ONBUILD trigger %q: %w", t, err)
		}
		if err := supported(c); err != nil {
			return err
		}
		if err := bd.dispatch(st, c); err != nil {
			return err
		}
	}
	return nil
}

// image finds a base image by reference, pulling it when it is missing
// or when the build asked for --pull.
func (bd *build) image(ref string) (*images.Image, error) {
	if !bd.opts.Pull {
		img, err := bd.b.cfg.Images.Resolve(ref)
		if err == nil || !errdefs.IsNotFound(err) || bd.b.cfg.Pull == nil {
			return img, err
		}
	}
	if bd.b.cfg.Pull == nil {
		return nil, errdefs.Invalid("pull of %s: no registry service", ref)
	}
	id, err := bd.b.cfg.Pull(bd.ctx, ref, bd.out.progress())
	if err != nil {
		return nil, err
	}
	return bd.b.cfg.Images.Resolve(id)
}

func checkPlatform(p string) error {
	want := "linux/" + runtime.GOARCH
	if p == want || p == "linux" || strings.HasPrefix(p, want+"/") {
		return nil
	}
	return errdefs.Invalid("platform %q is not supported: this daemon builds for %s", p, want)
}

// env is what words expand with: the stage's ENV, then the build args
// ENV does not override.
func (bd *build) env(st *stage) []string {
	env := slices.Clone(st.runConfig.Env)
	return append(env, bd.args.filtered(st.runConfig.Env)...)
}

// dispatch runs one instruction of the stage.
func (bd *build) dispatch(st *stage, c instructions.Command) error {
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		lex, env := bd.lex(), shell.EnvsFromSlice(bd.env(st))
		err := ex.Expand(func(word string) (string, error) {
			s, _, err := lex.ProcessWord(word, env)
			return s, err
		})
		if err != nil {
			return err
		}
	}
	rc := &st.runConfig
	switch c := c.(type) {
	case *instructions.EnvCommand:
		msg := "ENV"
		for _, kv := range c.Env {
			msg += " " + kv.String()
			rc.Env = setEnv(rc.Env, kv.Key, kv.Value)
		}
		return bd.commitConfig(st, msg)
	case *instructions.MaintainerCommand:
		st.maintainer = c.Maintainer
		return bd.commitConfig(st, "MAINTAINER "+c.Maintainer)
	case *instructions.LabelCommand:
		if rc.Labels == nil {
			rc.Labels = map[string]string{}
		}
		msg := "LABEL"
		for _, kv := range c.Labels {
			rc.Labels[kv.Key] = kv.Value
			msg += " " + kv.String()
		}
		return bd.commitConfig(st, msg)
	case *instructions.ExposeCommand:
		return bd.expose(st, c)
	case *instructions.CmdCommand:
		rc.Cmd = bd.commandLine(st, c.ShellDependantCmdLine)
		if err := bd.commitConfig(st, fmt.Sprintf("CMD %q", rc.Cmd)); err != nil {
			return err
		}
		if len(c.CmdLine) != 0 {
			st.cmdSet = true
		}
		return nil
	case *instructions.EntrypointCommand:
		rc.Entrypoint = bd.commandLine(st, c.ShellDependantCmdLine)
		if !st.cmdSet {
			rc.Cmd = nil
		}
		return bd.commitConfig(st, fmt.Sprintf("ENTRYPOINT %q", rc.Entrypoint))
	case *instructions.UserCommand:
		rc.User = c.User
		return bd.commitConfig(st, "USER "+c.User)
	case *instructions.VolumeCommand:
		if rc.Volumes == nil {
			rc.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return errdefs.Invalid("VOLUME specified can not be an empty string")
			}
			rc.Volumes[v] = struct{}{}
		}
		return bd.commitConfig(st, fmt.Sprintf("VOLUME %v", c.Volumes))
	case *instructions.StopSignalCommand:
		if _, err := specs.ParseSignal(c.Signal); err != nil {
			return errdefs.Invalid("Invalid signal: %s", c.Signal)
		}
		rc.StopSignal = c.Signal
		return bd.commitConfig(st, "STOPSIGNAL "+c.Signal)
	case *instructions.HealthCheckCommand:
		if rc.Healthcheck != nil && len(rc.Healthcheck.Test) > 0 && rc.Healthcheck.Test[0] != "NONE" {
			bd.out.printf("Note: overriding previous HEALTHCHECK: %v\n", rc.Healthcheck.Test)
		}
		h := healthOf(c)
		rc.Healthcheck = h
		// Docker prints its HealthConfig with %q: "&{[...] "30s" ... '\x03'}".
		return bd.commitConfig(st, fmt.Sprintf("HEALTHCHECK &{%q %q %q %q %q}",
			h.Test, h.Interval, h.Timeout, h.StartPeriod, rune(h.Retries)))
	case *instructions.OnbuildCommand:
		rc.OnBuild = append(rc.OnBuild, c.Expression)
		return bd.commitConfig(st, "ONBUILD "+c.Expression)
	case *instructions.ShellCommand:
		rc.Shell = slices.Clone(c.Shell)
		return bd.commitConfig(st, fmt.Sprintf("SHELL %v", rc.Shell))
	case *instructions.ArgCommand:
		var msg strings.Builder
		msg.WriteString("ARG ")
		for i, kv := range c.Args {
			if i > 0 {
				msg.WriteString(" ")
			}
			msg.WriteString(kv.Key)
			if kv.Value != nil {
				msg.WriteString("=" + *kv.Value)
			}
			bd.args.add(kv.Key, kv.Value)
		}
		return bd.commitConfig(st, msg.String())
	case *instructions.WorkdirCommand:
		return bd.workdir(st, c)
	case *instructions.RunCommand:
		return bd.runStep(st, c)
	case *instructions.CopyCommand:
		return bd.copyStep(st, copyRequest{
			name: "COPY", sources: c.SourcePaths, dest: c.DestPath,
			from: c.From, chown: c.Chown, chmod: c.Chmod,
		})
	case *instructions.AddCommand:
		return bd.copyStep(st, copyRequest{
			name: "ADD", sources: c.SourcePaths, dest: c.DestPath,
			chown: c.Chown, chmod: c.Chmod, add: true,
		})
	}
	return errdefs.Invalid("unsupported instruction %s", c.Name())
}

// expose adds ports; EXPOSE alone splits expanded words ($PORTS = "80 443").
func (bd *build) expose(st *stage, c *instructions.ExposeCommand) error {
	lex, env := bd.lex(), shell.EnvsFromSlice(bd.env(st))
	var ports []string
	for _, p := range c.Ports {
		ws, err := lex.ProcessWords(p, env)
		if err != nil {
			return err
		}
		ports = append(ports, ws...)
	}
	set, err := parsePorts(ports)
	if err != nil {
		return err
	}
	if st.runConfig.ExposedPorts == nil {
		st.runConfig.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range set {
		st.runConfig.ExposedPorts[p] = struct{}{}
	}
	return bd.commitConfig(st, "EXPOSE "+strings.Join(ports, " "))
}

// shellOf is the stage's SHELL, or Docker's default.
func shellOf(rc *types.ContainerConfig) []string {
	if len(rc.Shell) > 0 {
		return slices.Clone(rc.Shell)
	}
	return []string{"/bin/sh", "-c"}
}

// commandLine is a RUN, CMD or ENTRYPOINT's argv: exec form as written,
// shell form behind the stage's shell. A heredoc is handed to the shell
// as a script, as BuildKit does for shells that cannot read one; one that
// starts with "#!" (see shebangScript) keeps its heredoc form here, which
// names the step in the cache and the history.
func (bd *build) commandLine(st *stage, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	line := strings.Join(c.CmdLine, " ")
	if len(c.Files) > 0 {
		if hd, err := parser.ParseHeredoc(line); err == nil && hd != nil && len(c.Files) == 1 && !isShebang(c.Files[0].Data) {
			// RUN <<EOF: the body is the script.
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			line = data
		} else {
			var sb strings.Builder
			sb.WriteString(line)
			for _, f := range c.Files {
				sb.WriteString("\n" + f.Data + f.Name)
			}
			line = sb.String()
		}
	}
	return append(shellOf(&st.runConfig), line)
}

// shebangScript is the program a `RUN <<EOF` runs when the heredoc
// starts with "#!": as BuildKit does, the body becomes an executable file
// at /dev/pipes/<name> that runs on its own, not through the shell.
func shebangScript(c instructions.ShellDependantCmdLine) (name, body string, ok bool) {
	if !c.PrependShell || len(c.Files) != 1 || !isShebang(c.Files[0].Data) {
		return "", "", false
	}
	if hd, err := parser.ParseHeredoc(strings.Join(c.CmdLine, " ")); err != nil || hd == nil {
		return "", "", false // a heredoc fed to a command (cat <<EOF): the shell's
	}
	body = c.Files[0].Data
	if c.Files[0].Chomp {
		body = parser.ChompHeredocContent(body)
	}
	return c.Files[0].Name, body, true
}

func isShebang(data string) bool { return strings.HasPrefix(data, "#!") }

// healthOf is the stage's new health check.
func healthOf(c *instructions.HealthCheckCommand) *types.HealthConfig {
	h := c.Health
	return &types.HealthConfig{
		Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, Retries: h.Retries,
	}
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// defaultPath is the PATH Docker gives a stage that has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// normalizeWorkdir is WORKDIR's rule: relative to the previous one. An
// absolute path stays as written (Docker's history shows it so); the
// config holds it cleaned.
func normalizeWorkdir(cur, p string) string {
	if !path.IsAbs(p) {
		return path.Join("/", cur, p)
	}
	return p
}
