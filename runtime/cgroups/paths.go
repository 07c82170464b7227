package cgroups

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// unifiedName names the v2 hierarchy among the v1 ones: it is the "0::"
// line of /proc/self/cgroup.
const unifiedName = "unified"

// location is a resolved cgroup. It is one path, the same in every
// hierarchy, unless a relative cgroupsPath was resolved under cgroups of
// ours that differ between hierarchies: then byHierarchy holds each one,
// keyed by hierarchy ("cpu", "memory", "systemd" for name=systemd,
// "unified" for v2).
type location struct {
	path        string
	byHierarchy map[string]string
}

// String is the form kept in state: the path, or for per-hierarchy paths
// "name:path" entries sorted and joined by ";".
func (l location) String() string {
	if l.byHierarchy == nil {
		return l.path
	}
	keys := make([]string, 0, len(l.byHierarchy))
	for k := range l.byHierarchy {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(l.byHierarchy[k])
	}
	return b.String()
}

// in returns the path in one hierarchy.
func (l location) in(hierarchy string) (string, bool) {
	if l.byHierarchy == nil {
		return l.path, true
	}
	p, ok := l.byHierarchy[hierarchy]
	return p, ok
}

// v1Path adapts the location to containerd's cgroup1 path function.
func (l location) v1Path(name cgroup1.Name) (string, error) {
	if p, ok := l.in(string(name)); ok {
		return p, nil
	}
	return "", cgroup1.ErrControllerNotActive
}

// parseLocation reads back what String wrote.
func parseLocation(s string) (location, error) {
	if strings.HasPrefix(s, "/") {
		p, err := clean(s)
		if err != nil || p != s || p == "/" {
			return location{}, fmt.Errorf("cgroup path %q: not a clean path below the root", s)
		}
		return location{path: p}, nil
	}
	l := location{byHierarchy: map[string]string{}}
	for _, e := range strings.Split(s, ";") {
		name, p, ok := strings.Cut(e, ":")
		if !ok || name == "" || !strings.HasPrefix(p, "/") {
			return location{}, fmt.Errorf("cgroup path %q: entry %q is not hierarchy:/path", s, e)
		}
		l.byHierarchy[name] = p
	}
	return l, nil
}

// resolve turns linux.cgroupsPath into a location, reading our own
// cgroups only for a relative path.
func resolve(cgroupsPath, id string) (location, error) {
	return resolveWith(cgroupsPath, id, ownCgroups)
}

func resolveWith(cgroupsPath, id string, own func() (map[string]string, error)) (location, error) {
	if cgroupsPath == "" {
		if id == "" || id == "." || id == ".." || strings.Contains(id, "/") {
			return location{}, fmt.Errorf("container id %q: cannot name a cgroup", id)
		}
		return location{path: "/xrt/" + id}, nil
	}
	if !strings.HasPrefix(cgroupsPath, "/") && strings.Count(cgroupsPath, ":") == 2 {
		return location{}, fmt.Errorf("linux.cgroupsPath %q: the slice:prefix:name form needs --systemd-cgroup (%w)", cgroupsPath, ErrSystemd)
	}
	if strings.ContainsAny(cgroupsPath, ";\n") {
		return location{}, fmt.Errorf("linux.cgroupsPath %q: ';' and newlines are not allowed", cgroupsPath)
	}
	p, err := clean(cgroupsPath)
	if err != nil {
		return location{}, fmt.Errorf("linux.cgroupsPath %q: %w", cgroupsPath, err)
	}
	if p == "/" || p == "" {
		return location{}, fmt.Errorf("linux.cgroupsPath %q: a container needs a cgroup of its own, not the root", cgroupsPath)
	}
	if strings.HasPrefix(p, "/") {
		return location{path: p}, nil
	}
	// Relative: under our own cgroup in each hierarchy, as runc does.
	bases, err := own()
	if err != nil {
		return location{}, err
	}
	l := location{byHierarchy: make(map[string]string, len(bases))}
	for name, base := range bases {
		l.byHierarchy[name] = strings.TrimSuffix(base, "/") + "/" + p
	}
	return l.collapse(), nil
}

// collapse turns per-hierarchy paths that are all equal into one path.
func (l location) collapse() location {
	first := ""
	for _, p := range l.byHierarchy {
		if first == "" {
			first = p
		} else if p != first {
			return l
		}
	}
	if first == "" {
		return l
	}
	return location{path: first}
}

// clean cleans a cgroup path and refuses one whose ".." would climb above
// where it starts (the hierarchy's root, or our own cgroup for a relative
// path): a container must not choose a cgroup outside its place.
func clean(p string) (string, error) {
	abs := strings.HasPrefix(p, "/")
	parts := make([]string, 0, strings.Count(p, "/")+1)
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", fmt.Errorf("%q climbs out of the cgroup hierarchy", p)
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, e)
		}
	}
	s := strings.Join(parts, "/")
	if abs {
		s = "/" + s
	}
	return s, nil
}

// ownCgroups reads this process's cgroup in each hierarchy.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	return parseProcCgroup(b)
}

// parseProcCgroup parses /proc/PID/cgroup ("ID:controllers:path" lines)
// into hierarchy name -> path; co-mounted controllers get one entry each.
func parseProcCgroup(b []byte) (map[string]string, error) {
	m := make(map[string]string)
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := s.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("/proc/self/cgroup: bad line %q", line)
		}
		if parts[1] == "" {
			m[unifiedName] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			m[strings.TrimPrefix(c, "name=")] = parts[2]
		}
	}
	return m, s.Err()
}
