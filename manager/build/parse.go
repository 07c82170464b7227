package build

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	name     string // as the user named it, for errors
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	escape   rune
}

// parseDockerfile parses with buildkit's parser; an error names the line.
func parseDockerfile(data []byte, name string) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, errdefs.Invalid("%s", locate(name, err))
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, errdefs.Invalid("%s", locate(name, err))
	}
	if len(stages) == 0 {
		return nil, errdefs.Invalid("%s: no build stage in the Dockerfile: it needs a FROM", name)
	}
	for _, s := range stages {
		for _, c := range s.Commands {
			if err := supported(c); err != nil {
				return nil, errdefs.Invalid("%s", locate(name, parser.WithLocation(err, c.Location())))
			}
		}
	}
	return &dockerfile{name: name, stages: stages, metaArgs: metaArgs, escape: res.EscapeToken}, nil
}

var lineSaid = regexp.MustCompile(`^dockerfile parse error on line \d+: `)

// locate puts the Dockerfile line of a buildkit error in front of it.
func locate(name string, err error) string {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		// buildkit may say the line itself: once is enough.
		msg := lineSaid.ReplaceAllString(err.Error(), "")
		return fmt.Sprintf("%s:%d: %s", name, le.Locations[0][0].Start.Line, msg)
	}
	return fmt.Sprintf("%s: %v", name, err)
}

// supported refuses what buildkit parses but only buildkit's solver runs.
func supported(c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.RunCommand:
		if len(c.FlagsUsed) > 0 {
			return fmt.Errorf("RUN --%s is not supported by xmgr's builder", c.FlagsUsed[0])
		}
	case *instructions.HealthCheckCommand:
		if c.Health != nil && c.Health.StartInterval != 0 {
			return errors.New("HEALTHCHECK --start-interval is not supported by xmgr's builder")
		}
	case *instructions.CopyCommand:
		switch {
		case c.Link:
			return errors.New("COPY --link is not supported by xmgr's builder")
		case c.Parents:
			return errors.New("COPY --parents is not supported by xmgr's builder")
		case len(c.ExcludePatterns) > 0:
			return errors.New("COPY --exclude is not supported by xmgr's builder")
		case len(c.SourceContents) > 0:
			return errors.New("COPY of a heredoc is not supported by xmgr's builder")
		}
	case *instructions.AddCommand:
		switch {
		case c.Link:
			return errors.New("ADD --link is not supported by xmgr's builder")
		case len(c.ExcludePatterns) > 0:
			return errors.New("ADD --exclude is not supported by xmgr's builder")
		case c.Checksum != "":
			return errors.New("ADD --checksum is not supported by xmgr's builder")
		case c.KeepGitDir != nil:
			return errors.New("ADD --keep-git-dir is not supported by xmgr's builder")
		case c.Unpack != nil:
			return errors.New("ADD --unpack is not supported by xmgr's builder")
		case len(c.SourceContents) > 0:
			return errors.New("ADD of a heredoc is not supported by xmgr's builder")
		}
	}
	return nil
}

// upTo returns the stages to build: up to the target (by name), or all.
// Like Docker's classic builder, every stage before the target is built.
func (d *dockerfile) upTo(target string) ([]instructions.Stage, error) {
	if target == "" {
		return d.stages, nil
	}
	for i, s := range d.stages {
		if strings.EqualFold(s.Name, target) {
			return d.stages[:i+1], nil
		}
	}
	return nil, errdefs.Invalid("failed to reach build target %s in Dockerfile", target)
}

// stageIndex finds a stage by name or by number among the first n.
func stageIndex(stages []instructions.Stage, n int, name string) (int, bool) {
	for i := 0; i < n && i < len(stages); i++ {
		if stages[i].Name != "" && strings.EqualFold(stages[i].Name, name) {
			return i, true
		}
	}
	if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < n {
		return i, true
	}
	return 0, false
}
