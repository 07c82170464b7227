package container

import (
	"strings"
	"testing"
)

func TestFilterPs(t *testing.T) {
	out := `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 17:00 ?        00:00:01 /sbin/init
root         300       1  0 17:01 ?        00:00:00 sleep 1000
root         301     300  0 17:01 ?        00:00:00 sh -c a b c
`
	got, err := FilterPs([]byte(out), []int{300, 301})
	if err != nil {
		t.Fatal(err)
	}
	want := `UID          PID    PPID  C STIME TTY          TIME CMD
root         300       1  0 17:01 ?        00:00:00 sleep 1000
root         301     300  0 17:01 ?        00:00:00 sh -c a b c
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// The PID column is found wherever -o puts it.
	got, err = FilterPs([]byte("COMMAND PID\nsleep 300\ninit 1\n"), []int{300})
	if err != nil || string(got) != "COMMAND PID\nsleep 300\n" {
		t.Errorf("-o comm,pid: got %q, %v", got, err)
	}
	for _, bad := range []string{"", "USER COMMAND\nroot sh\n", "PID CMD\nx sh\n"} {
		if _, err := FilterPs([]byte(bad), []int{1}); err == nil {
			t.Errorf("%q: want an error", bad)
		} else if bad == "USER COMMAND\nroot sh\n" && !strings.Contains(err.Error(), "PID column") {
			t.Errorf("want the missing PID column named, got %v", err)
		}
	}
}
