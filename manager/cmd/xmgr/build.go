package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/build/buildcontext"
	"github.com/xrt-dev/xrt/manager/progress"
	"github.com/xrt-dev/xrt/manager/reference"
)

// contextTar writes a directory's build context (tests replace it).
var contextTar = buildcontext.Tar

var buildFlags = append([]cli.Flag{
	&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name and optionally a tag in the 'name:tag' format"},
	&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "name of the Dockerfile (default is 'PATH/Dockerfile'; - reads it from STDIN)"},
	&cli.StringSliceFlag{Name: "build-arg", Usage: "set build-time variables (KEY=VALUE, or KEY to take it from the environment)"},
	&cli.StringFlag{Name: "target", Usage: "set the target build stage to build"},
	&cli.BoolFlag{Name: "no-cache", Usage: "do not use cache when building the image"},
	&cli.BoolFlag{Name: "pull", Usage: "always attempt to pull a newer version of the image"},
	&cli.StringSliceFlag{Name: "label", Usage: "set metadata for an image"},
	&cli.StringFlag{Name: "network", Value: "default", Usage: "set the networking mode for the RUN instructions during build"},
	&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress the build output and print image ID on success"},
	&cli.BoolFlag{Name: "rm", Value: true, Usage: "remove intermediate containers after a successful build"},
	&cli.BoolFlag{Name: "force-rm", Usage: "always remove intermediate containers"},
	&cli.StringFlag{Name: "iidfile", Usage: "write the image ID to the file"},
	&cli.StringFlag{Name: "platform", EnvVars: []string{"DOCKER_DEFAULT_PLATFORM"}, Usage: "set platform if server is multi-platform capable"},
	&cli.StringSliceFlag{Name: "cache-from", Usage: "images to consider as cache sources"},
	// The RUN containers' resources and hosts, parsed as run's.
	&cli.StringSliceFlag{Name: "add-host", Usage: "add a custom host-to-IP mapping (host:ip)"},
	&cli.StringFlag{Name: "cgroup-parent", Usage: "optional parent cgroup for the container"},
	&cli.StringFlag{Name: "shm-size", Usage: "size of /dev/shm"},
	&cli.StringSliceFlag{Name: "ulimit", Usage: "ulimit options"},
}, limitFlags()...)

// buildCommand is `build`; each call makes a new value (tests change
// commands' actions).
func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "Build an image from a Dockerfile",
		ArgsUsage: "PATH | URL | -",
		Flags:     buildFlags,
		Action:    runBuild,
	}
}

// builderCommand is `builder`: build (again) and prune.
func builderCommand() *cli.Command {
	return &cli.Command{
		Name:  "builder",
		Usage: "Manage builds",
		Subcommands: []*cli.Command{
			buildCommand(),
			{
				Name:  "prune",
				Usage: "Remove build cache",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all unused build cache, not just dangling ones"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
				},
				Action: runBuilderPrune,
			},
		},
	}
}

// `image build` is `build`, as `docker image build`; the image group is
// a package-level command, so its build is added once, here.
func init() {
	imageCommand.Subcommands = append(imageCommand.Subcommands, buildCommand())
}

// buildOptions turns the flags into the API's options; lookupEnv gives
// the value of a --build-arg named without one.
func buildOptions(c *cli.Context, lookupEnv func(string) (string, bool)) (types.BuildOptions, error) {
	opts := types.BuildOptions{
		Target:      c.String("target"),
		NoCache:     c.Bool("no-cache"),
		Pull:        c.Bool("pull"),
		Quiet:       c.Bool("quiet"),
		Remove:      c.Bool("rm"),
		ForceRemove: c.Bool("force-rm"),
		NetworkMode: c.String("network"),
		Platform:    c.String("platform"),
		CacheFrom:   c.StringSlice("cache-from"),
	}
	if err := buildResources(c, &opts); err != nil {
		return opts, err
	}
	for _, t := range c.StringSlice("tag") {
		n, err := reference.ParseNamed(t)
		if err == nil && n.Digest != "" {
			err = errors.New("build tag cannot contain a digest")
		}
		if err != nil {
			return opts, usagef("invalid argument %q for \"-t, --tag\" flag: %v", t, err)
		}
		opts.Tags = append(opts.Tags, t)
	}
	for _, a := range c.StringSlice("build-arg") {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			// Docker: KEY alone takes the CLI's environment, and is
			// left out when unset there.
			env, set := lookupEnv(k)
			if !set {
				continue
			}
			v = env
		}
		if opts.BuildArgs == nil {
			opts.BuildArgs = map[string]*string{}
		}
		opts.BuildArgs[k] = &v
	}
	for _, l := range c.StringSlice("label") {
		k, v, _ := strings.Cut(l, "=")
		if opts.Labels == nil {
			opts.Labels = map[string]string{}
		}
		opts.Labels[k] = v
	}
	return opts, nil
}

// buildResources reads the RUN containers' resource and host flags with
// run's parsers (build has a subset of run's flags, plus the CFS ones).
func buildResources(c *cli.Context, opts *types.BuildOptions) error {
	var r types.Resources
	if err := parseResources(c, &r); err != nil {
		return err
	}
	opts.Memory, opts.MemorySwap, opts.CPUShares = r.Memory, r.MemorySwap, r.CPUShares
	opts.CpusetCpus, opts.CpusetMems, opts.Ulimits = r.CpusetCpus, r.CpusetMems, r.Ulimits
	opts.CPUPeriod, opts.CPUQuota = r.CPUPeriod, r.CPUQuota
	opts.CgroupParent = c.String("cgroup-parent")
	var err error
	if opts.ShmSize, err = parseShmSize(c); err != nil {
		return err
	}
	opts.ExtraHosts, err = parseExtraHosts(c)
	return err
}

func runBuild(c *cli.Context) error {
	if err := exactArgs(c, 1); err != nil {
		return err
	}
	opts, err := buildOptions(c, os.LookupEnv)
	if err != nil {
		return err
	}
	if iid := c.String("iidfile"); iid != "" {
		if err := os.Remove(iid); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing the image ID file: %w", err)
		}
	}
	src, dockerfile, err := openBuildContext(c.Args().First(), c.String("file"), os.Stdin)
	if err != nil {
		return err
	}
	defer src.Close()
	opts.Dockerfile = dockerfile

	// The size line is printed by the transport's goroutine when the
	// daemon has read the whole context; the answer waits for it.
	out := &afterSent{File: os.Stdout, sent: make(chan struct{})}
	body := &countingReader{r: src}
	body.atEOF = func(n int64) {
		if !opts.Quiet {
			fmt.Fprintf(os.Stdout, "Sending build context to xmgr daemon  %s\n", units.HumanSize(float64(n)))
		}
		close(out.sent)
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	rc, err := cl.ImageBuild(c.Context, opts, body)
	if err != nil {
		if body.err != nil {
			return fmt.Errorf("sending the build context: %w", body.err)
		}
		return err
	}
	defer rc.Close()
	var shown io.Writer = out
	var held bytes.Buffer
	if opts.Quiet {
		shown = &held
	}
	id := ""
	err = progress.DisplayAux(rc, shown, !opts.Quiet && isTerminal(os.Stdout), func(aux json.RawMessage) {
		var res types.BuildResult
		if json.Unmarshal(aux, &res) == nil && res.ID != "" {
			id = res.ID
		}
	})
	if err != nil {
		if opts.Quiet {
			// As Docker: a quiet build that fails shows its output.
			_, _ = os.Stderr.Write(held.Bytes())
		}
		var se *progress.StreamError
		if errors.As(err, &se) && se.Code > 0 {
			return withCode(err, se.Code)
		}
		return err
	}
	if opts.Quiet {
		if id == "" {
			id = strings.TrimSpace(held.String())
		}
		fmt.Fprintln(out, id)
	}
	if iid := c.String("iidfile"); iid != "" {
		if id == "" {
			return fmt.Errorf("the daemon did not provide an image ID: cannot write %s", iid)
		}
		if err := os.WriteFile(iid, []byte(id), 0o666); err != nil {
			return fmt.Errorf("writing the image ID file: %w", err)
		}
	}
	return nil
}

// openBuildContext gives the body of POST /build for the PATH | URL | -
// argument and the dockerfile parameter that goes with it: a directory
// is sent as a tar with .dockerignore applied; stdin, a local archive and
// a downloaded URL are sent as they are (a tar, maybe compressed, or a
// bare Dockerfile: the daemon tells them apart).
func openBuildContext(arg, dockerfile string, stdin io.Reader) (io.ReadCloser, string, error) {
	switch {
	case arg == "-":
		if dockerfile == "-" {
			return nil, "", usagef("invalid argument: can't use stdin for both build context and dockerfile")
		}
		return io.NopCloser(stdin), dockerfile, nil
	case isGitContext(arg):
		return nil, "", usagef("unable to prepare context: git build contexts (%s) are not supported by xmgr", arg)
	case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
		if dockerfile == "-" {
			return nil, "", usagef("invalid argument: a Dockerfile from stdin (-f -) needs a directory context")
		}
		return downloadContext(arg, dockerfile)
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: path %q not found", arg)
	}
	if !fi.IsDir() {
		if dockerfile == "-" {
			return nil, "", usagef("invalid argument: a Dockerfile from stdin (-f -) needs a directory context")
		}
		f, err := os.Open(arg)
		if err != nil {
			return nil, "", fmt.Errorf("unable to prepare context: %w", err)
		}
		return f, dockerfile, nil
	}
	return tarContext(arg, dockerfile, stdin)
}

// tarContext streams a directory's context tar. The Dockerfile path of
// -f is relative to the working directory, as with Docker; "-" takes it
// from stdin, through a temporary file outside the context.
func tarContext(dir, dockerfile string, stdin io.Reader) (io.ReadCloser, string, error) {
	absDir, err := filepath.Abs(dir)
	if err == nil {
		absDir, err = filepath.EvalSymlinks(absDir)
	}
	if err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: %w", err)
	}
	switch dockerfile {
	case "-":
	case "":
		// Dockerfile, or dockerfile when only that one exists (Docker).
		dockerfile = filepath.Join(absDir, "Dockerfile")
		if _, err := os.Lstat(dockerfile); err != nil {
			if _, lerr := os.Lstat(filepath.Join(absDir, "dockerfile")); lerr == nil {
				dockerfile = filepath.Join(absDir, "dockerfile")
			}
		}
		fallthrough
	default:
		// Resolved as Tar resolves it, so that both place it alike.
		if dockerfile, err = filepath.Abs(dockerfile); err == nil {
			dockerfile, err = filepath.EvalSymlinks(dockerfile)
		}
		if err != nil {
			return nil, "", fmt.Errorf("unable to prepare context: unable to evaluate symlinks in Dockerfile path: %w", err)
		}
	}
	cleanup := func() {}
	if dockerfile == "-" {
		tmp, err := os.CreateTemp("", "xmgr-dockerfile-")
		if err != nil {
			return nil, "", fmt.Errorf("reading the Dockerfile from stdin: %w", err)
		}
		cleanup = func() { os.Remove(tmp.Name()) }
		_, err = io.Copy(tmp, stdin)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			cleanup()
			return nil, "", fmt.Errorf("reading the Dockerfile from stdin: %w", err)
		}
		dockerfile = tmp.Name()
	}
	rel, err := filepath.Rel(absDir, dockerfile)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		// Outside the context: the tar holds it under a name that Tar
		// picks, known only at its end, and POST /build needs it first.
		// Such builds go through a temporary file.
		return tarToFile(absDir, dockerfile, cleanup)
	}
	inContext := filepath.ToSlash(rel)
	// Otherwise the tar streams to the daemon as it is written.
	pr, pw := io.Pipe()
	go func() {
		defer cleanup()
		_, err := contextTar(absDir, dockerfile, pw)
		pw.CloseWithError(err)
	}()
	return pr, inContext, nil
}

// tarToFile writes the context tar to a temporary file, deleted when the
// returned body is closed.
func tarToFile(dir, dockerfile string, cleanup func()) (io.ReadCloser, string, error) {
	defer cleanup()
	f, err := os.CreateTemp("", "xmgr-context-*.tar")
	if err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: %w", err)
	}
	os.Remove(f.Name()) // gone once closed
	name, err := contextTar(dir, dockerfile, f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("unable to prepare context: %w", err)
	}
	return f, name, nil
}

// isGitContext reports whether a context argument names a git
// repository by Docker's rules, which xmgr cannot fetch.
func isGitContext(s string) bool {
	if strings.HasPrefix(s, "git://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/") {
		return true
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, _, _ := strings.Cut(s, "#")
		return strings.HasSuffix(u, ".git")
	}
	return false
}

// downloadContext fetches a context from an http(s) URL; the body goes
// to the daemon as it arrives.
func downloadContext(u, dockerfile string) (io.ReadCloser, string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: unable to download remote context %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, "", fmt.Errorf("unable to prepare context: unable to download remote context %s: %s", u, resp.Status)
	}
	return resp.Body, dockerfile, nil
}

// countingReader counts what the daemon read of the context, calls
// atEOF once at its end, and keeps the first read error (a context that
// could not be read) for a clearer message than the transport's.
type countingReader struct {
	r     io.Reader
	n     int64
	atEOF func(int64)
	err   error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF && c.atEOF != nil {
		c.atEOF(c.n)
		c.atEOF = nil
	} else if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// afterSent is stdout for the daemon's answer: its first write waits
// (a little) for the size line, which Docker prints first. A daemon may
// answer before reading everything (an error), hence the time limit.
type afterSent struct {
	*os.File
	sent chan struct{}
	once sync.Once
}

func (f *afterSent) Write(p []byte) (int, error) {
	f.once.Do(func() {
		select {
		case <-f.sent:
		case <-time.After(time.Second):
		}
	})
	return f.File.Write(p)
}

var builderPruneWarnings = map[bool]string{
	false: "WARNING! This will remove all dangling build cache.",
	true:  "WARNING! This will remove all build cache.",
}

func runBuilderPrune(c *cli.Context) error {
	if c.NArg() > 0 {
		return argsError(c, "no arguments")
	}
	all := c.Bool("all")
	if !c.Bool("force") && !confirm(builderPruneWarnings[all]) {
		return nil
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	rep, err := cl.BuildCachePrune(c.Context, all)
	if err != nil {
		return err
	}
	if len(rep.CachesDeleted) > 0 {
		fmt.Println("Deleted build cache objects:")
		for _, id := range rep.CachesDeleted {
			fmt.Println(id)
		}
		fmt.Println()
	}
	fmt.Println("Total reclaimed space: " + units.HumanSize(float64(rep.SpaceReclaimed)))
	return nil
}
