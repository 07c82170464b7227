package types

import (
	"net"
	"strings"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// ValidateExtraHost checks one --add-host entry (HostConfig.ExtraHosts,
// POST /build's extrahosts) as the daemon takes it: "host:ip", the IP
// after the first colon (so "h:::1" is IPv6). The error is an invalid
// argument.
func ValidateExtraHost(h string) error {
	host, ip, ok := strings.Cut(h, ":")
	if !ok || host == "" || net.ParseIP(ip) == nil {
		return errdefs.Invalid("invalid IP address in add-host: %q", h)
	}
	return nil
}
