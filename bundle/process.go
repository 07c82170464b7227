package bundle

import (
	"errors"
	"fmt"
	"path"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func setProcess(s *rspec.Spec, o *Options) error {
	args, err := command(o)
	if err != nil {
		return err
	}
	if o.Init {
		if o.InitPath == "" {
			return errors.New("init: no init binary given (InitPath)")
		}
		args = append([]string{initPath, "--"}, args...)
	}
	cwd, err := workingDir(o)
	if err != nil {
		return err
	}
	userSpec := o.User
	if userSpec == "" {
		userSpec = o.Image.User
	}
	user, err := resolveUser(o.Rootfs, userSpec, o.GroupAdd)
	if err != nil {
		return err
	}
	rlimits, err := rlimits(o.Ulimits)
	if err != nil {
		return err
	}
	oom := o.OomScoreAdj
	if oom < -1000 || oom > 1000 {
		return fmt.Errorf("oom score adjust %d: must be between -1000 and 1000", oom)
	}
	s.Process = &rspec.Process{
		Terminal:    o.Tty,
		Args:        args,
		Env:         environment(o, user.home),
		Cwd:         cwd,
		User:        user.User,
		Rlimits:     rlimits,
		OOMScoreAdj: &oom,
	}
	return nil
}

// command is the process's argv: Docker's rule is that an entrypoint given
// at run time drops the image's Cmd as well.
func command(o *Options) ([]string, error) {
	entrypoint, cmd := o.Image.Entrypoint, o.Image.Cmd
	if o.Entrypoint != nil {
		entrypoint, cmd = o.Entrypoint, nil
		if len(entrypoint) == 1 && entrypoint[0] == "" {
			entrypoint = nil
		}
	}
	if o.Cmd != nil {
		cmd = o.Cmd
	}
	args := append(append([]string(nil), entrypoint...), cmd...)
	if len(args) == 0 || args[0] == "" {
		return nil, errors.New("no command specified")
	}
	return args, nil
}

func workingDir(o *Options) (string, error) {
	dir := o.WorkingDir
	if dir == "" {
		dir = o.Image.WorkingDir
	}
	if dir == "" {
		return "/", nil
	}
	if !path.IsAbs(dir) {
		return "", fmt.Errorf("working directory %q is invalid: it needs to be an absolute path", dir)
	}
	return path.Clean(dir), nil
}

// environment is Docker's: PATH and HOSTNAME (and TERM with a tty) first,
// then the image's env, then the run's, each replacing a key in place;
// "KEY" without "=" unsets KEY. HOME comes from the user's passwd entry
// when nothing sets it, as runc does when it starts the process.
func environment(o *Options, home string) []string {
	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + hostname(*o)}
	if o.Tty {
		env = append(env, "TERM=xterm")
	}
	env = mergeEnv(env, o.Image.Env)
	env = mergeEnv(env, o.Env)
	if _, ok := lookupEnv(env, "HOME"); !ok {
		env = append(env, "HOME="+home)
	}
	return env
}

// mergeEnv returns base with overrides applied by key.
func mergeEnv(base, overrides []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range overrides {
		key, _, set := strings.Cut(kv, "=")
		i := indexEnv(out, key)
		switch {
		case !set && i >= 0:
			out = append(out[:i], out[i+1:]...)
		case !set:
		case i >= 0:
			out[i] = kv
		default:
			out = append(out, kv)
		}
	}
	return out
}

func indexEnv(env []string, key string) int {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return i
		}
	}
	return -1
}

func lookupEnv(env []string, key string) (string, bool) {
	if i := indexEnv(env, key); i >= 0 {
		_, v, _ := strings.Cut(env[i], "=")
		return v, true
	}
	return "", false
}
