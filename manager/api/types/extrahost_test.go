package types

import (
	"testing"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func TestValidateExtraHost(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"db:10.0.0.2", true},
		{"v6:::1", true},
		{"v6:2001:db8::1", true},
		{"nocolon", false},
		{":10.0.0.2", false},
		{"h:", false},
		{"h:1.2.3", false},
		{"h:[::1]", false},
	}
	for _, tt := range tests {
		err := ValidateExtraHost(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateExtraHost(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("ValidateExtraHost(%q): %v is not an invalid argument", tt.in, err)
		}
	}
}
