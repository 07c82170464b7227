package cgroups

import rspec "github.com/opencontainers/runtime-spec/specs-go"

// DeviceRules is the device list to give Set when a container starts,
// built as runc builds it: linux.resources.devices, then allow rules for
// the devices every container gets (null, zero, full, random, urandom,
// tty, the pty devices, tun, and mknod of anything) and for each of
// linux.devices. Without them a config's usual "deny all" rule would deny
// the container its own /dev/null.
func DeviceRules(l *rspec.Linux) []rspec.LinuxDeviceCgroup {
	var rules []rspec.LinuxDeviceCgroup
	var devs []rspec.LinuxDevice
	if l != nil {
		if l.Resources != nil {
			rules = make([]rspec.LinuxDeviceCgroup, 0, len(l.Resources.Devices)+len(defaultRules)+len(l.Devices))
			rules = append(rules, l.Resources.Devices...)
		}
		devs = l.Devices
	}
	rules = append(rules, defaultRules...)
	for _, d := range devs {
		typ := d.Type
		switch typ {
		case "u":
			typ = "c" // unbuffered character device
		case "c", "b":
		default:
			continue // fifos are not device-cgroup business
		}
		major, minor := d.Major, d.Minor
		rules = append(rules, rspec.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
	}
	return rules
}

var defaultRules = []rspec.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Major: num(-1), Minor: num(-1), Access: "m"},
	{Allow: true, Type: "b", Major: num(-1), Minor: num(-1), Access: "m"},
	{Allow: true, Type: "c", Major: num(1), Minor: num(3), Access: "rwm"},    // null
	{Allow: true, Type: "c", Major: num(1), Minor: num(8), Access: "rwm"},    // random
	{Allow: true, Type: "c", Major: num(1), Minor: num(7), Access: "rwm"},    // full
	{Allow: true, Type: "c", Major: num(5), Minor: num(0), Access: "rwm"},    // tty
	{Allow: true, Type: "c", Major: num(1), Minor: num(5), Access: "rwm"},    // zero
	{Allow: true, Type: "c", Major: num(1), Minor: num(9), Access: "rwm"},    // urandom
	{Allow: true, Type: "c", Major: num(136), Minor: num(-1), Access: "rwm"}, // /dev/pts/*
	{Allow: true, Type: "c", Major: num(5), Minor: num(2), Access: "rwm"},    // ptmx
	{Allow: true, Type: "c", Major: num(10), Minor: num(200), Access: "rwm"}, // net/tun
}

func num(n int64) *int64 { return &n }
