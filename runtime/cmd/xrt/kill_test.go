package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for _, c := range []struct {
		in   string
		want unix.Signal
		bad  bool
	}{
		{in: "9", want: unix.SIGKILL},
		{in: "KILL", want: unix.SIGKILL},
		{in: "SIGKILL", want: unix.SIGKILL},
		{in: "sigterm", want: unix.SIGTERM},
		{in: "term", want: unix.SIGTERM},
		{in: "USR1", want: unix.SIGUSR1},
		{in: "64", want: unix.Signal(64)},
		{in: "0", bad: true},
		{in: "65", bad: true},
		{in: "-1", bad: true},
		{in: "SIGFOO", bad: true},
		{in: "", bad: true},
	} {
		got, err := parseSignal(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("parseSignal(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
