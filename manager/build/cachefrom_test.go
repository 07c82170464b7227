package build

import (
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xrt-dev/xrt/manager/images"
)

// step is one history entry of a test image: a layer unless empty.
type step struct {
	by    string
	empty bool
}

// testImage is an image whose history is steps; each non-empty step's
// layer has a diff ID made from its command (so equal steps give equal
// layers), all entries created at the same instant.
func testImage(id string, steps ...step) *images.Image {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	img := &images.Image{ID: digest.FromString(id)}
	for _, s := range steps {
		img.Config.History = append(img.Config.History, ocispec.History{Created: &at, CreatedBy: s.by, EmptyLayer: s.empty})
		if !s.empty {
			img.DiffIDs = append(img.DiffIDs, digest.FromString("layer "+s.by))
		}
	}
	return img
}

func TestMatchSource(t *testing.T) {
	base := []step{{by: "ADD base"}, {by: "CMD sh", empty: true}}
	steps := append(base[:2:2], step{by: "ENV A=1", empty: true}, step{by: "RUN make"}, step{by: "CMD app", empty: true})
	src := testImage("src", steps...)
	other := testImage("other", append(base[:2:2], step{by: "RUN other"})...)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

	// base with another creation time for its CMD entry
	moved := testImage("moved", base...)
	later := at.Add(time.Second)
	moved.Config.History[1].Created = &later
	// base with a different layer under the same history
	relayered := testImage("relayered", base...)
	relayered.DiffIDs[0] = digest.FromString("another layer")
	// a source whose history names more layers than it has
	short := testImage("short", append(base[:2:2], step{by: "RUN make"})...)
	short.DiffIDs = short.DiffIDs[:1]
	// an image with layers but no history cannot be placed in a source's
	noHistory := testImage("nohistory", base...)
	noHistory.Config.History = nil

	tests := []struct {
		name      string
		sources   []*images.Image
		cur       *images.Image
		createdBy string
		want      *images.Image // nil: no match
		index     int
		last      bool
	}{
		{"next config step", []*images.Image{src}, testImage("b", base...), "ENV A=1", src, 2, false},
		{"next RUN step", []*images.Image{src}, testImage("c", steps[:3]...), "RUN make", src, 3, false},
		{"last entry", []*images.Image{src}, testImage("d", steps[:4]...), "CMD app", src, 4, true},
		{"other command", []*images.Image{src}, testImage("b", base...), "ENV A=2", nil, 0, false},
		{"second source matches", []*images.Image{other, src}, testImage("b", base...), "ENV A=1", src, 2, false},
		{"first source wins", []*images.Image{other, src}, testImage("b", base...), "RUN other", other, 2, true},
		{"current as long as the source", []*images.Image{src}, testImage("e", steps...), "CMD app", nil, 0, false},
		{"history entry differs", []*images.Image{src}, moved, "ENV A=1", nil, 0, false},
		{"diff IDs differ", []*images.Image{src}, relayered, "ENV A=1", nil, 0, false},
		{"current diverged earlier", []*images.Image{src}, testImage("f", append(base[:2:2], step{by: "ENV A=9", empty: true})...), "RUN make", nil, 0, false},
		{"FROM scratch: the first entry", []*images.Image{src}, nil, "ADD base", src, 0, false},
		{"FROM scratch: not the first entry", []*images.Image{src}, nil, "ENV A=1", nil, 0, false},
		{"an empty image is scratch", []*images.Image{src}, &images.Image{ID: digest.FromString("empty")}, "ADD base", src, 0, false},
		{"layers without history", []*images.Image{src}, noHistory, "ADD base", nil, 0, false},
		{"source without a layer for its entry", []*images.Image{short}, testImage("b", base...), "RUN make", nil, 0, false},
		{"no sources", nil, testImage("b", base...), "ENV A=1", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, index, ok := matchSource(tt.sources, tt.cur, tt.createdBy)
			if tt.want == nil {
				if ok {
					t.Fatalf("matched %s at %d, want no match", images.ShortID(got.ID), index)
				}
				return
			}
			if !ok || got != tt.want || index != tt.index {
				t.Fatalf("match %v at %d (%v), want %s at %d", got, index, ok, images.ShortID(tt.want.ID), tt.index)
			}
			if last := index == len(got.Config.History)-1; last != tt.last {
				t.Errorf("last entry %v, want %v", last, tt.last)
			}
		})
	}
}

func TestSameHistory(t *testing.T) {
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	sameInstant := at.In(time.FixedZone("X", 3600))
	other := at.Add(time.Nanosecond)
	h := ocispec.History{Created: &at, CreatedBy: "RUN x", Author: "a", Comment: "c"}
	tests := []struct {
		name string
		edit func(*ocispec.History)
		want bool
	}{
		{"equal", func(*ocispec.History) {}, true},
		{"same instant in another zone", func(h *ocispec.History) { h.Created = &sameInstant }, true},
		{"created differs", func(h *ocispec.History) { h.Created = &other }, false},
		{"created missing", func(h *ocispec.History) { h.Created = nil }, false},
		{"created_by differs", func(h *ocispec.History) { h.CreatedBy = "RUN y" }, false},
		{"author differs", func(h *ocispec.History) { h.Author = "b" }, false},
		{"comment differs", func(h *ocispec.History) { h.Comment = "" }, false},
		{"empty_layer differs", func(h *ocispec.History) { h.EmptyLayer = true }, false},
	}
	for _, tt := range tests {
		b := h
		tt.edit(&b)
		if got := sameHistory(h, b); got != tt.want {
			t.Errorf("%s: sameHistory = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A stage starts with every source; a step made from one keeps the rest
// of the stage to it, and the next stage starts over.
func TestCacheFromStages(t *testing.T) {
	a, b := testImage("a", step{by: "ADD a"}), testImage("b", step{by: "ADD b"})
	cf := &cacheFrom{all: []*images.Image{a, b}}
	one, two := &stage{name: "one"}, &stage{name: "two"}
	if got := cf.forStage(one); len(got) != 2 {
		t.Fatalf("first stage: %d sources, want 2", len(got))
	}
	cf.sources = []*images.Image{b} // a step was made from b
	if got := cf.forStage(one); len(got) != 1 || got[0] != b {
		t.Errorf("same stage: %d sources, want b alone", len(got))
	}
	if got := cf.forStage(two); len(got) != 2 {
		t.Errorf("next stage: %d sources, want 2", len(got))
	}
}
