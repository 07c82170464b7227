package images

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/specs"
)

// ApplyChanges applies Dockerfile instructions to an image's run config, as
// `docker import --change` and `docker commit --change` do. The instructions
// allowed are CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME and
// STOPSIGNAL. ONBUILD is refused: an OCI image config has no place to keep
// it. Each bad change is an errdefs.ErrInvalidArgument naming it.
func ApplyChanges(cfg *ocispec.ImageConfig, changes []string) error {
	for _, c := range changes {
		if err := applyChange(cfg, c); err != nil {
			return errdefs.Invalid("invalid change %q: %v", c, err)
		}
	}
	return nil
}

func applyChange(cfg *ocispec.ImageConfig, change string) error {
	line := strings.TrimSpace(change)
	if line == "" {
		return fmt.Errorf("empty instruction")
	}
	keyword, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		keyword, rest = line[:i], line[i+1:]
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToUpper(keyword) {
	case "CMD":
		args, err := commandArgs(rest)
		if err != nil {
			return err
		}
		cfg.Cmd = args
	case "ENTRYPOINT":
		args, err := commandArgs(rest)
		if err != nil {
			return err
		}
		cfg.Entrypoint = args
	case "ENV":
		pairs, err := nameValues(rest, cfg.Env)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			cfg.Env = setEnv(cfg.Env, p[0], p[1])
		}
	case "LABEL":
		pairs, err := nameValues(rest, cfg.Env)
		if err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, p := range pairs {
			cfg.Labels[p[0]] = p[1]
		}
	case "EXPOSE":
		words, err := splitWords(rest, cfg.Env)
		if err != nil {
			return err
		}
		if len(words) == 0 {
			return fmt.Errorf("EXPOSE requires at least one argument")
		}
		for _, w := range words {
			ports, err := parsePorts(w)
			if err != nil {
				return err
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		}
	case "USER":
		w, err := oneWord("USER", rest, cfg.Env)
		if err != nil {
			return err
		}
		cfg.User = w
	case "WORKDIR":
		w, err := oneWord("WORKDIR", rest, cfg.Env)
		if err != nil {
			return err
		}
		// A relative WORKDIR continues from the previous one, as in a
		// Dockerfile.
		if !path.IsAbs(w) {
			w = path.Join("/", cfg.WorkingDir, w)
		}
		cfg.WorkingDir = path.Clean(w)
	case "VOLUME":
		vols, err := jsonOrWords(rest, cfg.Env)
		if err != nil {
			return err
		}
		if len(vols) == 0 {
			return fmt.Errorf("VOLUME requires at least one argument")
		}
		for _, v := range vols {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string")
			}
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
		}
	case "STOPSIGNAL":
		w, err := oneWord("STOPSIGNAL", rest, cfg.Env)
		if err != nil {
			return err
		}
		if err := checkSignal(w); err != nil {
			return err
		}
		cfg.StopSignal = w
	case "ONBUILD":
		return fmt.Errorf("ONBUILD is not supported here: an image config made by import has no ONBUILD triggers")
	default:
		return fmt.Errorf("%s is not a valid change command (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME or STOPSIGNAL)", strings.ToUpper(keyword))
	}
	return nil
}

// commandArgs reads CMD/ENTRYPOINT arguments: a JSON array of strings (the
// exec form) or anything else, run by /bin/sh -c (the shell form).
func commandArgs(rest string) ([]string, error) {
	if strings.HasPrefix(rest, "[") {
		var args []string
		if err := json.Unmarshal([]byte(rest), &args); err == nil {
			return args, nil
		}
		// Docker too falls back to the shell form when the brackets are
		// not valid JSON.
	}
	if rest == "" {
		return nil, fmt.Errorf("requires at least one argument")
	}
	return []string{"/bin/sh", "-c", rest}, nil
}

// jsonOrWords reads VOLUME's arguments: a JSON array or words.
func jsonOrWords(rest string, env []string) ([]string, error) {
	if strings.HasPrefix(rest, "[") {
		var args []string
		if err := json.Unmarshal([]byte(rest), &args); err == nil {
			return args, nil
		}
	}
	return splitWords(rest, env)
}

func oneWord(inst, rest string, env []string) (string, error) {
	words, err := splitWords(rest, env)
	if err != nil {
		return "", err
	}
	if len(words) != 1 {
		return "", fmt.Errorf("%s requires exactly one argument", inst)
	}
	return words[0], nil
}

// nameValues reads ENV and LABEL arguments: name=value pairs, or the legacy
// "name value with spaces" form when the first word has no "=".
func nameValues(rest string, env []string) ([][2]string, error) {
	if rest == "" {
		return nil, fmt.Errorf("requires at least one argument")
	}
	first := rest
	if i := strings.IndexAny(rest, " \t"); i >= 0 {
		first = rest[:i]
	}
	if !strings.Contains(first, "=") {
		value := ""
		if i := strings.IndexAny(rest, " \t"); i >= 0 {
			value = strings.TrimSpace(rest[i+1:])
		}
		if value == "" {
			return nil, fmt.Errorf("%s needs a value (name value, or name=value)", first)
		}
		v, err := processWord(value, env, false)
		if err != nil {
			return nil, err
		}
		return [][2]string{{first, v[0]}}, nil
	}
	words, err := splitWords(rest, env)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, w := range words {
		name, value, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("%q: expected name=value", w)
		}
		if name == "" {
			return nil, fmt.Errorf("%q: empty name", w)
		}
		out = append(out, [2]string{name, value})
	}
	return out, nil
}

func splitWords(s string, env []string) ([]string, error) {
	return processWord(s, env, true)
}

// processWord does what a Dockerfile does to an argument: quotes ('..'
// literal, ".." with backslash escapes), backslash escapes and $VAR,
// ${VAR}, ${VAR:-word} and ${VAR:+word} from env. With split, unquoted
// blanks separate words; without, the result is one word.
func processWord(s string, env []string, split bool) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case split && (c == ' ' || c == '\t' || c == '\n'):
			flush()
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching single-quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`, s[i+1]) >= 0:
					i++
					cur.WriteByte(s[i])
				case s[i] == '$':
					v, n, err := expand(s[i:], env)
					if err != nil {
						return nil, err
					}
					cur.WriteString(v)
					i += n - 1
				default:
					cur.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching double-quote")
			}
		case c == '$':
			inWord = true
			v, n, err := expand(s[i:], env)
			if err != nil {
				return nil, err
			}
			cur.WriteString(v)
			i += n - 1
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	flush()
	if !split && len(words) == 0 {
		words = []string{""}
	}
	return words, nil
}

// expand reads one variable reference at the start of s ("$NAME",
// "${NAME}", "${NAME:-word}", "${NAME:+word}") and returns its value and
// how many bytes it took. A lone "$" is itself.
func expand(s string, env []string) (string, int, error) {
	if len(s) < 2 {
		return "$", 1, nil
	}
	if s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0, fmt.Errorf("missing '}' in %q", s)
		}
		body := s[2:end]
		name, mod, word := body, "", ""
		if i := strings.Index(body, ":"); i >= 0 {
			name = body[:i]
			if len(body) < i+2 || (body[i+1] != '-' && body[i+1] != '+') {
				return "", 0, fmt.Errorf("unsupported modifier in ${%s}", body)
			}
			mod, word = body[i+1:i+2], body[i+2:]
		}
		v, set := lookupEnv(env, name)
		switch mod {
		case "-":
			if !set || v == "" {
				v = word
			}
		case "+":
			if set && v != "" {
				v = word
			} else {
				v = ""
			}
		}
		return v, end + 1, nil
	}
	n := 1
	for n < len(s) && (s[n] == '_' || isAlnum(s[n])) {
		n++
	}
	if n == 1 {
		return "$", 1, nil
	}
	v, _ := lookupEnv(env, s[1:n])
	return v, n, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// setEnv replaces name's entry in env or appends one.
func setEnv(env []string, name, value string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == name {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}

// parsePorts reads one EXPOSE argument: "80", "80/udp", "8000-8002/tcp".
func parsePorts(s string) ([]string, error) {
	ports, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("Invalid containerPort: %s", ports)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid range specified for containerPort: %s", ports)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// checkSignal accepts what Docker's STOPSIGNAL does: a number or a name
// with or without SIG.
func checkSignal(s string) error {
	if _, err := specs.ParseSignal(s); err != nil {
		return fmt.Errorf("invalid signal: %s", s)
	}
	return nil
}
