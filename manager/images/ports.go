package images

import (
	"fmt"
	"strconv"
	"strings"
)

// ParsePorts reads one EXPOSE argument ("80", "80/udp", "8000-8002/tcp")
// into the "port/proto" keys of an image's ExposedPorts.
func ParsePorts(s string) ([]string, error) { return parsePorts(s) }

// parsePorts reads one EXPOSE argument: "80", "80/udp", "8000-8002/tcp".
func parsePorts(s string) ([]string, error) {
	ports, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("Invalid containerPort: %s", ports)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid range specified for containerPort: %s", ports)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}
