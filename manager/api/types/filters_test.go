package types

import (
	"reflect"
	"testing"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func TestParseFilters(t *testing.T) {
	tests := []struct {
		in      string
		key     string
		want    []string
		wantErr bool
	}{
		{in: "", key: "dangling", want: nil},
		{in: `{"dangling":{"true":true}}`, key: "dangling", want: []string{"true"}},
		{in: `{"reference":["busybox","alpine:*"]}`, key: "reference", want: []string{"alpine:*", "busybox"}},
		{in: `{"label":{"a=b":true,"c":true}}`, key: "label", want: []string{"a=b", "c"}},
		{in: `{"label":"x"}`, wantErr: true},
		{in: `not json`, wantErr: true},
	}
	for _, tt := range tests {
		f, err := ParseFilters(tt.in)
		if tt.wantErr {
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("ParseFilters(%q) error = %v, want invalid argument", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseFilters(%q): %v", tt.in, err)
		}
		if got := f.Get(tt.key); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFilters(%q).Get(%q) = %v, want %v", tt.in, tt.key, got, tt.want)
		}
	}
}

func TestFiltersRoundTrip(t *testing.T) {
	f := NewFilters()
	f.Add("dangling", "true")
	f.Add("label", "a=b")
	g, err := ParseFilters(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip: %v != %v", g, f)
	}
	if err := g.Validate("dangling"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Validate: %v, want invalid filter", err)
	}
	if NewFilters().Encode() != "" {
		t.Error("empty filters should encode as empty string")
	}
}
