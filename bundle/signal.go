package bundle

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// StopSignal is the signal that stops the container: the run's, else the
// image's, else SIGTERM. Names are taken with or without "SIG", or as
// numbers, as Docker takes them.
func StopSignal(o Options) (syscall.Signal, error) {
	name := o.StopSignal
	if name == "" {
		name = o.Image.StopSignal
	}
	if name == "" {
		return unix.SIGTERM, nil
	}
	return ParseSignal(name)
}

// ParseSignal reads "SIGTERM", "term" or "15".
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}
