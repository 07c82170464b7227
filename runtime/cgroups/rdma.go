package cgroups

import (
	"fmt"
	"slices"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// rdmaLines formats linux.resources.rdma for the rdma controller's
// rdma.max (the same on v1 and v2): one line per device, sorted, naming
// only the limits that are set.
func rdmaLines(rdma map[string]rspec.LinuxRdma) []string {
	devs := make([]string, 0, len(rdma))
	for d := range rdma {
		devs = append(devs, d)
	}
	slices.Sort(devs)
	lines := make([]string, 0, len(devs))
	for _, d := range devs {
		l := rdma[d]
		line := d
		if l.HcaHandles != nil {
			line += fmt.Sprintf(" hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			line += fmt.Sprintf(" hca_object=%d", *l.HcaObjects)
		}
		if line != d {
			lines = append(lines, line)
		}
	}
	return lines
}

// checkRdma refuses device names the kernel could not read back.
func checkRdma(rdma map[string]rspec.LinuxRdma) error {
	for d := range rdma {
		if d == "" || strings.ContainsAny(d, " \t\n=") {
			return fmt.Errorf("device %q: not an RDMA device name", d)
		}
	}
	return nil
}
