package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// samples are the timings of one phase for one runtime.
type samples []time.Duration

// percentile returns the nearest-rank p-th percentile (0 < p <= 100), 0 without samples.
func (s samples) percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	rank := int(math.Ceil(float64(len(sorted)) * p / 100))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// median is the middle sample, or the mean of the two middle ones.
func (s samples) median() time.Duration {
	n := len(s)
	if n == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// row is one line of the result table: a phase, timed for xrt and for runc (either may
// be empty when that runtime was not benchmarked).
type row struct {
	name      string
	xrt, runc samples
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// ratio formats a/b, or "-" when either side is missing.
func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func cell(s samples, f func(samples) time.Duration) string {
	if len(s) == 0 {
		return "-"
	}
	return ms(f(s))
}

func median(s samples) time.Duration { return s.median() }
func p90(s samples) time.Duration    { return s.percentile(90) }

// printTable writes the medians, their ratio and the p90s of every row, in milliseconds.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\txrt median ms\trunc median ms\txrt/runc\txrt p90 ms\trunc p90 ms\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name,
			cell(r.xrt, median), cell(r.runc, median), ratio(median(r.xrt), median(r.runc)),
			cell(r.xrt, p90), cell(r.runc, p90))
	}
	tw.Flush()
}

// summary is the one-line verdict: each row's median ratio.
func summary(rows []row, n int) string {
	parts := make([]string, 0, len(rows))
	for _, r := range rows {
		if len(r.xrt) > 0 && len(r.runc) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", r.name, ratio(median(r.xrt), median(r.runc))))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("summary: only one runtime measured (%d runs each)", n)
	}
	return fmt.Sprintf("summary: xrt/runc median time: %s (%d runs each, lower is faster)", strings.Join(parts, ", "), n)
}
