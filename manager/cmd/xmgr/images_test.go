package main

import (
	"testing"

	"github.com/xrt-dev/xrt/manager/api/types"
)

func TestImageRows(t *testing.T) {
	tests := []struct {
		name string
		img  types.ImageSummary
		want [][3]string // repository, tag, digest
	}{
		{"untagged", types.ImageSummary{RepoTags: []string{"<none>:<none>"}, RepoDigests: []string{"<none>@<none>"}},
			[][3]string{{"<none>", "<none>", "<none>"}}},
		{"two tags one digest", types.ImageSummary{
			RepoTags:    []string{"busybox:latest", "busybox:1", "localhost:5000/bb:x"},
			RepoDigests: []string{"busybox@sha256:aa"}},
			[][3]string{{"busybox", "latest", "sha256:aa"}, {"busybox", "1", "sha256:aa"}, {"localhost:5000/bb", "x", "<none>"}}},
		{"digest only", types.ImageSummary{RepoDigests: []string{"r@sha256:bb"}},
			[][3]string{{"r", "<none>", "sha256:bb"}}},
	}
	for _, tt := range tests {
		rows := imageRows(tt.img, true)
		if len(rows) != len(tt.want) {
			t.Errorf("%s: %d rows, want %d: %+v", tt.name, len(rows), len(tt.want), rows)
			continue
		}
		for i, r := range rows {
			if got := [3]string{r.Repository, r.Tag, r.Digest}; got != tt.want[i] {
				t.Errorf("%s row %d: %v, want %v", tt.name, i, got, tt.want[i])
			}
		}
	}
}

func TestSplitRepoTag(t *testing.T) {
	tests := []struct{ in, repo, tag string }{
		{"busybox:1", "busybox", "1"},
		{"localhost:5000/a", "localhost:5000/a", "<none>"},
		{"localhost:5000/a:2", "localhost:5000/a", "2"},
	}
	for _, tt := range tests {
		if r, tg := splitRepoTag(tt.in); r != tt.repo || tg != tt.tag {
			t.Errorf("splitRepoTag(%q) = %q %q", tt.in, r, tg)
		}
	}
}
