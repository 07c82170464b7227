package main

import (
	"strings"
	"testing"
	"time"
)

func ds(ms ...int) samples {
	s := make(samples, len(ms))
	for i, m := range ms {
		s[i] = time.Duration(m) * time.Millisecond
	}
	return s
}

func TestMedianAndP90(t *testing.T) {
	cases := []struct {
		name        string
		in          samples
		median, p90 time.Duration
	}{
		{"empty", nil, 0, 0},
		{"one", ds(7), 7 * time.Millisecond, 7 * time.Millisecond},
		{"odd unsorted", ds(5, 1, 3), 3 * time.Millisecond, 5 * time.Millisecond},
		{"even takes the mean", ds(4, 1, 2, 3), 2500 * time.Microsecond, 4 * time.Millisecond},
		{"ten: p90 is the 9th", ds(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 5500 * time.Microsecond, 9 * time.Millisecond},
		{"thirty: p90 is the 27th", ds(30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1),
			15500 * time.Microsecond, 27 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := append(samples(nil), c.in...)
			if got := c.in.median(); got != c.median {
				t.Errorf("median = %v, want %v", got, c.median)
			}
			if got := c.in.percentile(90); got != c.p90 {
				t.Errorf("p90 = %v, want %v", got, c.p90)
			}
			for i := range before {
				if before[i] != c.in[i] {
					t.Fatalf("samples were reordered: %v", c.in)
				}
			}
		})
	}
}

func TestRatio(t *testing.T) {
	cases := []struct {
		a, b time.Duration
		want string
	}{
		{6 * time.Millisecond, 24 * time.Millisecond, "0.25x"},
		{24 * time.Millisecond, 24 * time.Millisecond, "1.00x"},
		{0, 24 * time.Millisecond, "-"},
		{24 * time.Millisecond, 0, "-"},
	}
	for _, c := range cases {
		if got := ratio(c.a, c.b); got != c.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

func TestTableAndSummary(t *testing.T) {
	rows := []row{
		{name: "run", xrt: ds(6, 6, 7), runc: ds(24, 24, 25)},
		{name: "create", runc: ds(10, 11, 12)},
	}
	var b strings.Builder
	printTable(&b, rows)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want 3:\n%s", len(lines), b.String())
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "run 6.00 24.00 0.25x 7.00 25.00" {
		t.Errorf("run row = %q", lines[1])
	}
	if f := strings.Fields(lines[2]); strings.Join(f, " ") != "create - 11.00 - - 12.00" {
		t.Errorf("create row = %q", lines[2])
	}
	if s := summary(rows, 3); !strings.Contains(s, "run 0.25x") || strings.Contains(s, "create") {
		t.Errorf("summary = %q, want the run ratio only", s)
	}
	if s := summary(rows[1:], 3); !strings.Contains(s, "only one runtime") {
		t.Errorf("summary without xrt = %q", s)
	}
}
