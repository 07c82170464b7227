package registry

import (
	"encoding/json"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ParsePlatform parses "os[/arch[/variant]]" as docker's --platform.
func ParsePlatform(s string) (*ocispec.Platform, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, errdefs.Invalid("invalid platform %q: want os[/arch[/variant]]", s)
	}
	p := &ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	normalize(p)
	return p, nil
}

// normalize spells architectures as the OCI index does (Docker's
// platforms package accepts the common aliases).
func normalize(p *ocispec.Platform) {
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	case "i386":
		p.Architecture = "386"
	}
	if p.Architecture == "arm64" && p.Variant == "v8" {
		p.Variant = ""
	}
}

// selectPlatform picks the index entry for want (nil: the host's): same
// OS and architecture, and the variant when one is asked for (an arm/v7
// host also takes v6 and v5 images, preferring the closest).
func selectPlatform(index []byte, want *ocispec.Platform) (ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(index, &idx); err != nil {
		return ocispec.Descriptor{}, errdefs.Invalid("malformed image index: %v", err)
	}
	w := ocispec.Platform{}
	if want != nil {
		w = *want
	} else {
		w.OS, w.Architecture, w.Variant = hostPlatform()
	}
	if w.Architecture == "" {
		_, w.Architecture, w.Variant = hostPlatform()
	}
	normalize(&w)
	best, bestRank := -1, 1<<30
	for i, m := range idx.Manifests {
		if m.Platform == nil {
			continue
		}
		got := *m.Platform
		normalize(&got)
		if got.OS != w.OS || got.Architecture != w.Architecture {
			continue
		}
		rank := variantRank(w.Variant, got.Variant)
		if rank >= 0 && rank < bestRank {
			best, bestRank = i, rank
		}
	}
	if best < 0 {
		name := w.OS + "/" + w.Architecture
		if w.Variant != "" {
			name += "/" + w.Variant
		}
		return ocispec.Descriptor{}, errdefs.NotFound("no matching manifest for %s in the manifest list entries", name)
	}
	return idx.Manifests[best], nil
}

// variantRank is 0 for an exact variant match, higher for older
// compatible arm variants, -1 for a mismatch.
func variantRank(want, got string) int {
	if want == got || want == "" {
		if want == got {
			return 0
		}
		return 1
	}
	arm := map[string]int{"v5": 5, "v6": 6, "v7": 7, "v8": 8}
	wv, ok1 := arm[want]
	gv, ok2 := arm[got]
	if ok1 && ok2 && gv <= wv {
		return wv - gv
	}
	if got == "" {
		return 10
	}
	return -1
}
