package images

// ParsePorts reads one EXPOSE argument ("80", "80/udp", "8000-8002/tcp")
// into the "port/proto" keys of an image's ExposedPorts.
func ParsePorts(s string) ([]string, error) { return parsePorts(s) }
