package containers

import "testing"

func TestMemTotal(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"MemTotal:       24684096 kB\nMemFree:  1 kB\n", 24684096 * 1024},
		{"MemFree:  1 kB\nMemTotal: 2048 kB\n", 2048 * 1024},
		{"MemTotal: 4096\n", 4096},
		{"MemFree:  1 kB\n", 0},
		{"MemTotal: lots kB\n", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := memTotal([]byte(tt.in)); got != tt.want {
			t.Errorf("memTotal(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestHostMemTotal(t *testing.T) {
	// The cap on a container without a memory limit: the host's memory,
	// far below cgroup v1's 8 EiB "unlimited".
	if n := hostMemTotal(); n == 0 || n >= 1<<62 {
		t.Fatalf("hostMemTotal() = %d", n)
	}
}
