package build

import (
	"fmt"
	"io"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ApplyChanges applies Dockerfile instructions to an image config, as
// `docker commit --change` and `docker import --change` do: parsed and
// run by the builder's own dispatch, with nothing committed. Docker's
// list is allowed: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME, WORKDIR. A bad change is an invalid-argument
// error that quotes it.
func ApplyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	bd := &build{
		df:       &dockerfile{name: "change", escape: '\\'},
		args:     newBuildArgs(nil),
		out:      newOutput(io.Discard),
		noCommit: true,
	}
	st := &stage{runConfig: runConfigOf(*cfg)}
	for _, change := range changes {
		if err := bd.change(st, change); err != nil {
			return errdefs.Invalid("invalid change %q: %v", change, err)
		}
	}
	*cfg = imageConfigOf(&st.runConfig)
	return nil
}

func (bd *build) change(st *stage, change string) error {
	if strings.TrimSpace(change) == "" {
		return fmt.Errorf("empty instruction")
	}
	res, err := parser.Parse(strings.NewReader(change))
	if err != nil {
		return err
	}
	if len(res.AST.Children) != 1 {
		return fmt.Errorf("want one instruction")
	}
	inst, err := instructions.ParseInstruction(res.AST.Children[0])
	if err != nil {
		return err
	}
	c, ok := inst.(instructions.Command)
	if !ok { // FROM
		return fmt.Errorf("%s is not a valid change command", strings.ToUpper(res.AST.Children[0].Value))
	}
	switch c.(type) {
	case *instructions.CmdCommand, *instructions.EntrypointCommand, *instructions.EnvCommand,
		*instructions.ExposeCommand, *instructions.LabelCommand, *instructions.OnbuildCommand,
		*instructions.StopSignalCommand, *instructions.UserCommand, *instructions.VolumeCommand,
		*instructions.WorkdirCommand:
	default:
		return fmt.Errorf("%s is not a valid change command (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)", strings.ToUpper(c.Name()))
	}
	return bd.dispatch(st, c)
}
