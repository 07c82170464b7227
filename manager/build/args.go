package build

import (
	"sort"
	"strings"
)

// builtinArgs are the proxy variables Docker lets a build use without an
// ARG. They reach RUN steps, but an unreferenced one stays out of the
// cache key and the history, so that a proxy does not change the image.
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true,
	"HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true,
	"NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// buildArgs tracks --build-arg values and the ARGs that let them in, with
// Docker's rules: a value reaches a stage only once an ARG declares it (or
// it is a builtin), ARGs before the first FROM serve FROM lines and are
// redeclared to be used inside a stage.
type buildArgs struct {
	given      map[string]*string // --build-arg; nil value: declared without one
	meta       map[string]*string // ARGs before the first FROM, with their effective values
	allowed    map[string]*string // the current stage's ARGs: name -> default
	referenced map[string]bool    // names any ARG declared, over the whole build
}

func newBuildArgs(given map[string]*string) *buildArgs {
	if given == nil {
		given = map[string]*string{}
	}
	return &buildArgs{given: given, meta: map[string]*string{}, allowed: map[string]*string{}, referenced: map[string]bool{}}
}

// addMeta records an ARG before the first FROM.
func (a *buildArgs) addMeta(name string, def *string) {
	a.referenced[name] = true
	if v, ok := a.given[name]; ok && v != nil {
		def = v
	}
	a.meta[name] = def
}

// metaEnv is what FROM lines expand with: the global ARGs' values.
func (a *buildArgs) metaEnv() []string {
	var out []string
	for k, v := range a.meta {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

// resetStage forgets the previous stage's ARGs.
func (a *buildArgs) resetStage() { a.allowed = map[string]*string{} }

// add declares an ARG in the current stage. Without a default, a global
// ARG of that name gives its value.
func (a *buildArgs) add(name string, def *string) {
	a.referenced[name] = true
	if def == nil {
		if v, ok := a.meta[name]; ok {
			def = v
		}
	}
	a.allowed[name] = def
}

// value is the effective value of a declared or builtin arg.
func (a *buildArgs) value(name string) (string, bool) {
	if def, ok := a.allowed[name]; ok {
		if v, ok := a.given[name]; ok && v != nil {
			return *v, true
		}
		if def != nil {
			return *def, true
		}
		return "", false
	}
	if builtinArgs[name] {
		if v, ok := a.given[name]; ok && v != nil {
			return *v, true
		}
	}
	return "", false
}

// filtered returns the "name=value" args in effect that the environment
// env does not override, sorted: they are set for RUN and expand words.
func (a *buildArgs) filtered(env []string) []string {
	names := map[string]bool{}
	for k := range a.allowed {
		names[k] = true
	}
	for k := range builtinArgs {
		if _, ok := a.given[k]; ok {
			names[k] = true
		}
	}
	var out []string
	for k := range names {
		if envHas(env, k) {
			continue
		}
		if v, ok := a.value(k); ok {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// inKey reports whether an arg belongs in a RUN's cache key and history:
// all but the builtins no ARG declared.
func (a *buildArgs) inKey(name string) bool {
	return !builtinArgs[name] || a.referenced[name]
}

// unused lists the --build-arg names nothing declared (Docker warns).
func (a *buildArgs) unused() []string {
	var out []string
	for k := range a.given {
		if !a.referenced[k] && !builtinArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func envHas(env []string, name string) bool {
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == name {
			return true
		}
	}
	return false
}

// setEnv sets name=value in env, in place of an existing entry.
func setEnv(env []string, name, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}
