package bundle

import (
	"bytes"
	"fmt"
	"net"
	"strings"
)

// HostEntry is one line of /etc/hosts: --add-host or a peer container.
type HostEntry struct {
	IP    string
	Names []string
}

// HostsFile is the /etc/hosts Docker writes: the localhost lines, then
// extra, then "IP hostname" for each of the container's ips. hostname may
// hold several names separated by spaces ("web.example.com web").
func HostsFile(hostname string, ips []string, extra []HostEntry) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n")
	for _, e := range extra {
		fmt.Fprintf(&b, "%s\t%s\n", e.IP, strings.Join(e.Names, " "))
	}
	if hostname != "" {
		for _, ip := range ips {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	return b.Bytes()
}

// defaultNameservers replace a host's list that has only loopback servers.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// ResolvConf is the /etc/resolv.conf Docker gives a container, from the
// host's: nameservers on a loopback address are dropped (the container
// cannot reach the host's loopback) and Google's are used when none is
// left. With no dns, search or options the host's file is kept otherwise
// as it is; else a new file is written with those that are given (a
// search of "." means none) and the host's for the others.
func ResolvConf(host []byte, dns, search, options []string) []byte {
	if len(dns) == 0 && len(search) == 0 && len(options) == 0 {
		var b bytes.Buffer
		servers := 0
		for _, line := range strings.SplitAfter(string(host), "\n") {
			if ip, ok := nameserver(line); ok {
				if isLoopback(ip) {
					continue
				}
				servers++
			}
			b.WriteString(line)
		}
		if servers == 0 {
			if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
				b.WriteByte('\n')
			}
			for _, ns := range defaultNameservers {
				b.WriteString("nameserver " + ns + "\n")
			}
		}
		return b.Bytes()
	}

	hostServers, hostSearch, hostOptions := parseResolvConf(host)
	if len(dns) == 0 {
		dns = hostServers
		if len(dns) == 0 {
			dns = defaultNameservers
		}
	}
	if len(search) == 0 {
		search = hostSearch
	}
	if len(options) == 0 {
		options = hostOptions
	}
	var b bytes.Buffer
	if s := strings.Join(search, " "); strings.TrimSpace(s) != "." && strings.TrimSpace(s) != "" {
		b.WriteString("search " + s + "\n")
	}
	for _, ns := range dns {
		b.WriteString("nameserver " + ns + "\n")
	}
	if o := strings.Join(options, " "); strings.TrimSpace(o) != "" {
		b.WriteString("options " + o + "\n")
	}
	return b.Bytes()
}

// parseResolvConf returns the nameservers that are not on loopback, and the
// last search and options lines.
func parseResolvConf(data []byte) (servers, search, options []string) {
	for _, line := range strings.Split(string(data), "\n") {
		if ip, ok := nameserver(line); ok {
			if !isLoopback(ip) {
				servers = append(servers, ip)
			}
			continue
		}
		f := strings.Fields(stripComment(line))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "search":
			search = f[1:]
		case "options":
			options = f[1:]
		}
	}
	return servers, search, options
}

// nameserver returns the address of a "nameserver" line.
func nameserver(line string) (string, bool) {
	f := strings.Fields(stripComment(line))
	if len(f) < 2 || f[0] != "nameserver" {
		return "", false
	}
	return f[1], true
}

func stripComment(line string) string {
	if i := strings.IndexAny(line, "#;"); i >= 0 {
		return line[:i]
	}
	return line
}

func isLoopback(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}
