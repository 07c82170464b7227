package images

import (
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/reference"
)

// This file is the service's one meeting point with image names: every
// name a user gives goes through reference's Docker rules here.

// hexPrefixRe matches what may be a (possibly short) image ID.
var hexPrefixRe = regexp.MustCompile(`^[a-f0-9]{1,64}$`)

// parseName parses a user's image name ("busybox", "busybox:1",
// "host:5000/x@sha256:...") into its full, normalized form; a name with
// neither tag nor digest gets ":latest".
func parseName(s string) (reference.Named, error) {
	return reference.Parse(s)
}

// hasTag tells whether the user wrote a tag or digest, as opposed to a bare
// repository name ("busybox"), which `docker save` reads as "every tag".
func hasTag(s string) bool {
	n, err := reference.ParseNamed(s)
	return err == nil && (n.Tag != "" || n.Digest != "")
}

// familiar turns a stored full name into the form users see. A name that
// does not parse (it cannot, since only parsed names are stored) is shown
// as stored.
func familiar(full string) string {
	n, err := reference.ParseNamed(full)
	if err != nil {
		return full
	}
	return n.Familiar()
}

func familiarAll(full []string) []string {
	if len(full) == 0 {
		return []string{}
	}
	out := make([]string, len(full))
	for i, f := range full {
		out[i] = familiar(f)
	}
	return out
}

// repoName is the full repository of a stored full name:
// docker.io/library/busybox for docker.io/library/busybox:latest.
func repoName(full string) string {
	n, err := reference.ParseNamed(full)
	if err != nil {
		return full
	}
	return n.Name()
}

// isDigestName tells a repo digest name (name@sha256:...) from a tag name.
func isDigestName(full string) bool { return strings.Contains(full, "@") }

// idFromRef reads an ID reference: "sha256:<hex>" or bare hex, full or a
// prefix. ok is false when ref cannot be an ID.
func idFromRef(ref string) (prefix string, full bool, ok bool) {
	h := strings.TrimPrefix(ref, digest.SHA256.String()+":")
	if !hexPrefixRe.MatchString(h) {
		return "", false, false
	}
	return h, len(h) == 64, true
}
