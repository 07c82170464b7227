// Package reference parses image references by Docker's rules: "busybox"
// means docker.io/library/busybox:latest, the first path component is a
// registry host when it holds a "." or a ":" or is "localhost" (or has an
// upper-case letter), repository paths are lower case, tags match
// [\w][\w.-]{0,127} and digests are algorithm:hex. The full form
// (String) is what the metadata store keeps; the familiar form (Familiar)
// is what users see, as in `docker images`.
package reference

import (
	"regexp"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

const (
	// DefaultDomain is the registry a reference without one names.
	DefaultDomain = "docker.io"
	// DefaultTag is the tag a reference without tag or digest gets.
	DefaultTag = "latest"
	// officialPrefix is the namespace of Docker Hub's official images.
	officialPrefix = "library/"
	// legacyDomain is the old name of Docker Hub, folded into DefaultDomain.
	legacyDomain = "index.docker.io"
	// maxNameLength is the longest domain/path Docker accepts.
	maxNameLength = 255
)

// The grammar of distribution/reference, written as separate pieces so
// that each error can say which part is wrong.
var (
	componentRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	// domainRe: dot-separated host labels or a bracketed IPv6 address,
	// with an optional port.
	domainRe = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	tagRe    = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$`)
	hex64Re  = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// Named is a parsed, normalized image reference. Tag and Digest may both
// be set ("busybox:1.36@sha256:..."); the digest then decides what is
// pulled, as with Docker.
type Named struct {
	Domain string // docker.io, localhost:5000, 127.0.0.1:5000
	Path   string // library/busybox, myorg/app
	Tag    string
	Digest digest.Digest
}

// errFormat is Docker's message for anything that does not parse.
func errFormat(s, why string) error {
	if why == "" {
		return errdefs.Invalid("invalid reference format: %q", s)
	}
	return errdefs.Invalid("invalid reference format: %s: %q", why, s)
}

// Parse parses s by Docker's rules and adds the "latest" tag when s has
// neither tag nor digest. Errors are of kind errdefs.ErrInvalidArgument.
func Parse(s string) (Named, error) {
	n, err := ParseNamed(s)
	if err != nil {
		return Named{}, err
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = DefaultTag
	}
	return n, nil
}

// ParseNamed parses s like Parse but leaves Tag empty when s has none,
// for callers that treat a bare name differently (image filters,
// `push --all-tags`).
func ParseNamed(s string) (Named, error) {
	if s == "" {
		return Named{}, errFormat(s, "empty reference")
	}
	if hex64Re.MatchString(s) {
		return Named{}, errdefs.Invalid("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	var n Named
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		d := rest[i+1:]
		if !digestRe.MatchString(d) {
			return Named{}, errFormat(s, "bad digest")
		}
		n.Digest = digest.Digest(d)
		if err := n.Digest.Validate(); err != nil && err != digest.ErrDigestUnsupported {
			return Named{}, errFormat(s, "bad digest")
		}
		rest = rest[:i]
	}
	// A tag follows the last colon that comes after the last slash; an
	// earlier colon belongs to host:port.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		t := rest[i+1:]
		if !tagRe.MatchString(t) {
			return Named{}, errFormat(s, "bad tag")
		}
		n.Tag = t
		rest = rest[:i]
	}
	if rest == "" {
		return Named{}, errFormat(s, "empty name")
	}
	n.Domain, n.Path = splitDomain(rest)
	if n.Domain != DefaultDomain && !domainRe.MatchString(n.Domain) {
		return Named{}, errFormat(s, "bad registry host")
	}
	if strings.ToLower(n.Path) != n.Path {
		return Named{}, errdefs.Invalid("invalid reference format: repository name (%s) must be lowercase", n.Path)
	}
	for _, c := range strings.Split(n.Path, "/") {
		if !componentRe.MatchString(c) {
			return Named{}, errFormat(s, "bad repository name")
		}
	}
	if len(n.Domain)+1+len(n.Path) > maxNameLength {
		return Named{}, errdefs.Invalid("invalid reference format: repository name must not be more than %d characters", maxNameLength)
	}
	return n, nil
}

// splitDomain is Docker's rule for where the registry ends: the first
// component is a host if it has a "." or ":", is "localhost", or is not
// all lower case; otherwise the name lives on Docker Hub, and a
// single-component Hub name is an official image under library/.
func splitDomain(name string) (domain, path string) {
	i := strings.IndexByte(name, '/')
	if i < 0 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		domain, path = DefaultDomain, name
	} else {
		domain, path = name[:i], name[i+1:]
	}
	if domain == legacyDomain {
		domain = DefaultDomain
	}
	if domain == DefaultDomain && !strings.ContainsRune(path, '/') {
		path = officialPrefix + path
	}
	return domain, path
}

// Name is the full repository name without tag or digest:
// docker.io/library/busybox.
func (n Named) Name() string { return n.Domain + "/" + n.Path }

// FamiliarName is the repository name as users write it: busybox,
// myorg/app, localhost:5000/app.
func (n Named) FamiliarName() string {
	if n.Domain != DefaultDomain {
		return n.Name()
	}
	if p := strings.TrimPrefix(n.Path, officialPrefix); !strings.ContainsRune(p, '/') {
		return p
	}
	return n.Path
}

// String is the full reference: docker.io/library/busybox:latest, with
// "@digest" when there is one.
func (n Named) String() string { return n.Name() + n.suffix() }

// Familiar is the short form: busybox:latest, myreg:5000/x:1.
func (n Named) Familiar() string { return n.FamiliarName() + n.suffix() }

func (n Named) suffix() string {
	s := ""
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest.String()
	}
	return s
}

// WithTag returns n with tag t and no digest (a tag reference).
func (n Named) WithTag(t string) Named { n.Tag, n.Digest = t, ""; return n }

// WithDigest returns n with digest d and no tag (a canonical reference,
// as a RepoDigest is stored: docker.io/library/busybox@sha256:...).
func (n Named) WithDigest(d digest.Digest) Named { n.Tag, n.Digest = "", d; return n }

// RegistryHost is the host that serves the registry API for n: Docker Hub
// answers at registry-1.docker.io, everything else at its domain.
func (n Named) RegistryHost() string {
	if n.Domain == DefaultDomain {
		return "registry-1.docker.io"
	}
	return n.Domain
}

// IndexName is the key Docker uses for n's registry in config.json:
// "https://index.docker.io/v1/" for Docker Hub, the host[:port] otherwise.
func (n Named) IndexName() string { return IndexServer(n.Domain) }

// IndexServer normalizes a server name given to `login` or found in a
// reference to the key of config.json's "auths", as docker login does.
func IndexServer(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s = strings.TrimSuffix(s, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	switch s {
	case "", DefaultDomain, legacyDomain, "registry-1.docker.io":
		return "https://index.docker.io/v1/"
	}
	return s
}
