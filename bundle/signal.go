package bundle

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/specs"
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

// ParseSignal reads "SIGTERM", "term" or "15" (specs.ParseSignal).
func ParseSignal(s string) (syscall.Signal, error) { return specs.ParseSignal(s) }
