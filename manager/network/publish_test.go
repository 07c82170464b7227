package network

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Published ports on the real kernel: reachability from the host (127.0.0.1
// and its main address), from other containers and from the container
// itself, TCP and UDP, with FORWARD dropping what we do not accept, and
// removal that leaves iptables as it was.

// serveUDP echoes datagrams on port inside a namespace, prefixed with reply.
func serveUDP(t testing.TB, nsPath string, port int, reply string) {
	t.Helper()
	var c net.PacketConn
	inNetNS(t, nsPath, func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		return err
	})
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(append([]byte(reply), buf[:n]...), from)
		}
	}()
}

// askUDP sends a datagram to addr and returns the answer.
func askUDP(addr string) (string, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ { // UDP: a datagram may be lost
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("no answer from %s", addr)
}

// dropForwarding makes FORWARD drop what it sees of a bridge after
// XMGR-FORWARD, as Docker's DROP policy would, without touching the
// traffic of anyone else on the machine. It returns the undo, which also
// runs at cleanup.
func dropForwarding(t *testing.T, bridges ...string) (undo func()) {
	t.Helper()
	tag := fmt.Sprintf("xmgr-test-drop-%d", os.Getpid())
	var specs [][]string
	undo = func() {
		for _, spec := range specs {
			iptables(append([]string{"-t", "filter", "-D"}, spec...)...)
		}
		specs = nil
	}
	t.Cleanup(undo)
	for _, br := range bridges {
		for _, dir := range []string{"-i", "-o"} {
			spec := []string{"FORWARD", dir, br, "-m", "comment", "--comment", tag, "-j", "DROP"}
			if _, err := iptables(append([]string{"-t", "filter", "-A"}, spec...)...); err != nil {
				t.Fatal(err)
			}
			specs = append(specs, spec)
		}
	}
	return undo
}

// sameRules fails when iptables changed between before and after in a line
// that names one of ours (a container ID, an IP, a bridge, a subnet); other
// lines may change meanwhile by other tests on the machine, and are logged.
func sameRules(t *testing.T, before, after string, ours ...string) {
	t.Helper()
	lines := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	b, a := lines(before), lines(after)
	var bad []string
	report := func(sign string, l string) {
		for _, o := range ours {
			if strings.Contains(l, o) {
				bad = append(bad, sign+l)
				return
			}
		}
		t.Logf("iptables changed by someone else: %s%s", sign, l)
	}
	for l := range a {
		if !b[l] {
			report("+", l)
		}
	}
	for l := range b {
		if !a[l] {
			report("-", l)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("iptables not as before:\n%s", strings.Join(bad, "\n"))
	}
}

func TestPublishedPorts(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()
	user, err := m.Create(ctx, CreateRequest{Name: fmt.Sprintf("t%d-client", os.Getpid()), Subnet: testSubnet(t)})
	if err != nil {
		t.Fatal(err)
	}
	// The bridges exist once a container joined: connect the client first.
	clientID := fmt.Sprintf("c%dcli", os.Getpid())
	clientNS := newNS(t, m, clientID)
	if _, err := m.Connect(ctx, user.Name, clientNS, EndpointConfig{ContainerID: clientID, ContainerName: "client"}); err != nil {
		t.Fatal(err)
	}
	before := iptablesRules(t)

	tcpA, udpA, tcpB, localB := freePort(t), freePort(t), freePort(t), freePort(t)
	idA, idB := fmt.Sprintf("c%dpubA", os.Getpid()), fmt.Sprintf("c%dpubB", os.Getpid())
	nsA, nsB := newNS(t, m, idA), newNS(t, m, idB)
	epA, err := m.Connect(ctx, "bridge", nsA, EndpointConfig{ContainerID: idA, ContainerName: "a", Ports: []PortMapping{
		{HostPort: tcpA, ContainerPort: 80},
		{HostPort: udpA, ContainerPort: 53, Protocol: "udp"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	epB, err := m.Connect(ctx, "bridge", nsB, EndpointConfig{ContainerID: idB, ContainerName: "b", Ports: []PortMapping{
		{HostPort: tcpB, ContainerPort: 80},
		{HostIP: "127.0.0.1", HostPort: localB, ContainerPort: 81},
	}})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, nsA, 80, "a")
	serveUDP(t, nsA, 53, "a:")
	serve(t, nsB, 80, "b")
	serve(t, nsB, 81, "b81")
	host := hostIP(t)
	at := func(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }

	for _, c := range []struct{ addr, want string }{
		{at("127.0.0.1", tcpA), "a"}, {at(host, tcpA), "a"},
		{at("127.0.0.1", tcpB), "b"}, {at(host, tcpB), "b"},
		{at("127.0.0.1", localB), "b81"},
	} {
		if got, err := fetch(c.addr); err != nil || got != c.want {
			t.Errorf("tcp %s: %q %v, want %q", c.addr, got, err, c.want)
		}
	}
	if got, err := fetch(at(host, localB)); err == nil {
		t.Errorf("port published on 127.0.0.1 answers on %s: %q", host, got)
	}
	for _, addr := range []string{at("127.0.0.1", udpA), at(host, udpA)} {
		if got, err := askUDP(addr); err != nil || got != "a:ping" {
			t.Errorf("udp %s: %q %v", addr, got, err)
		}
	}

	// Through FORWARD, which drops whatever XMGR-FORWARD does not accept:
	// a container on another network, a neighbour, and A itself (hairpin).
	bridge, _ := m.Get("bridge")
	undoDrop := dropForwarding(t, bridge.Bridge, user.Bridge)
	for _, c := range []struct{ name, ns, addr, want string }{
		{"other network", clientNS, at(host, tcpA), "a"},
		{"same network", nsB, at(host, tcpA), "a"},
		{"hairpin", nsA, at(host, tcpA), "a"},
		{"hairpin via gateway", nsB, at(epB.Gateway, tcpB), "b"},
	} {
		if got, err := fetchFrom(t, c.ns, c.addr); err != nil || got != c.want {
			t.Errorf("%s: %s: %q %v, want %q", c.name, c.addr, got, err, c.want)
		}
	}
	if err := m.Release(ctx, idA, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Disconnect(ctx, "bridge", idB, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := fetch(at("127.0.0.1", tcpB)); err == nil {
		t.Errorf("port answers after Disconnect: %q", got)
	}
	undoDrop()
	sameRules(t, before, iptablesRules(t), idA, idB, epA.IP+":", epB.IP+":", bridge.Bridge, user.Bridge)
}

func TestRestartThenReleaseRemovesPortRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m1 := e.manager(t)
	before := iptablesRules(t)
	id := fmt.Sprintf("c%dpubrestart", os.Getpid())
	ns := newNS(t, m1, id)
	ports := []PortMapping{{HostPort: freePort(t), ContainerPort: 80}, {HostPort: freePort(t), ContainerPort: 53, Protocol: "udp"},
		{HostPort: freePort(t), ContainerPort: 81}}
	ep, err := m1.Connect(ctx, "bridge", ns, EndpointConfig{ContainerID: id, ContainerName: "r", Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	if n := iptablesCount(t, portComment(ep)); n != 3 {
		t.Fatalf("%d port rules, want 3:\n%s", n, iptablesRules(t))
	}
	// One rule removed by hand: the batch delete fails, and the rules that
	// remain are found by their comment.
	one := portRules(ep)[2]
	if _, err := iptables(append([]string{"-t", "nat", "-D", one.chain}, one.spec...)...); err != nil {
		t.Fatal(err)
	}

	m2 := e.manager(t)
	if err := m2.Release(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if n := iptablesCount(t, portComment(ep)); n != 0 {
		t.Fatalf("%d port rules left:\n%s", n, iptablesRules(t))
	}
	sameRules(t, before, iptablesRules(t), id, ep.IP+":")
	if err := m2.Release(ctx, id, ""); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}
