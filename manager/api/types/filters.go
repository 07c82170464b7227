package types

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Filters is the `filters` query parameter of the list, prune and events
// endpoints: each key (dangling, reference, label, ...) with its set of
// values. On the wire it is JSON, either {"key":{"value":true}} (what
// Docker's clients send since API 1.22) or {"key":["value"]} (older
// clients); ParseFilters reads both.
type Filters map[string]map[string]bool

// NewFilters makes an empty set of filters.
func NewFilters() Filters { return Filters{} }

// Add adds a value for key.
func (f Filters) Add(key, value string) {
	if f[key] == nil {
		f[key] = map[string]bool{}
	}
	f[key][value] = true
}

// Get returns the values of key, sorted.
func (f Filters) Get(key string) []string {
	var out []string
	for v := range f[key] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Len is the number of keys.
func (f Filters) Len() int { return len(f) }

// Validate refuses keys that are not in accepted.
func (f Filters) Validate(accepted ...string) error {
	ok := map[string]bool{}
	for _, a := range accepted {
		ok[a] = true
	}
	for k := range f {
		if !ok[k] {
			return errdefs.Invalid("invalid filter '%s'", k)
		}
	}
	return nil
}

// Encode renders the filters as the query parameter value ("" when empty).
func (f Filters) Encode() string {
	if len(f) == 0 {
		return ""
	}
	b, _ := json.Marshal(map[string]map[string]bool(f))
	return string(b)
}

// ParseFilters reads a `filters` query parameter in either wire form.
func ParseFilters(s string) (Filters, error) {
	f := Filters{}
	if s == "" {
		return f, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &sets); err == nil {
		for k, vs := range sets {
			for v := range vs {
				f.Add(k, v)
			}
		}
		return f, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(s), &lists); err != nil {
		return nil, fmt.Errorf("%w: filters %q: %v", errdefs.ErrInvalidArgument, s, err)
	}
	for k, vs := range lists {
		for _, v := range vs {
			f.Add(k, v)
		}
	}
	return f, nil
}
