package network

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// These tests use the real kernel: namespaces, veths, bridges, iptables and
// Debian's CNI plugins. Names and subnets carry the pid so that concurrent
// runs do not meet.

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, bridges and iptables rules")
	}
	for _, p := range []string{"bridge", "host-local"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			t.Skipf("CNI plugin %s missing in /usr/lib/cni (apt-get install containernetworking-plugins)", p)
		}
	}
	for _, tool := range []string{"iptables", "iptables-save", "iptables-restore", "ip"} {
		if _, err := lookPath(tool); err != nil {
			t.Skipf("%s missing", tool)
		}
	}
}

func lookPath(name string) (string, error) {
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name), nil
		}
	}
	return "", os.ErrNotExist
}

var (
	pidByte = os.Getpid() % 250
	seqMu   sync.Mutex
	seq     int
)

// testSubnet is a /26 of 10.250-10.253 unique to this process and call.
func testSubnet(t testing.TB) string {
	seqMu.Lock()
	defer seqMu.Unlock()
	if seq == 16 {
		t.Fatal("testSubnet: out of subnets; widen the scheme")
	}
	seq++
	return fmt.Sprintf("10.%d.%d.%d/26", 250+(seq-1)/4, pidByte, (seq-1)%4*64)
}

type testEnv struct {
	dataRoot, execRoot, bridgeSubnet, bridgeDevice string
}

// newEnv makes the directories of a manager, and removes at the end whatever
// the managers made there: endpoints, namespaces, networks, bridges, rules.
func newEnv(t *testing.T) *testEnv {
	needRoot(t)
	dir := t.TempDir()
	e := &testEnv{
		dataRoot:     filepath.Join(dir, "data"),
		execRoot:     filepath.Join(dir, "exec"),
		bridgeSubnet: fmt.Sprintf("10.249.%d.0/24", pidByte),
		bridgeDevice: fmt.Sprintf("xt%d%s", os.Getpid(), t.Name()[len(t.Name())-1:]),
	}
	if len(e.bridgeDevice) > 15 {
		e.bridgeDevice = e.bridgeDevice[:15]
	}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

func (e *testEnv) manager(t *testing.T) *Manager {
	t.Helper()
	m, err := New(context.Background(), Config{DataRoot: e.dataRoot, ExecRoot: e.execRoot,
		BridgeSubnet: e.bridgeSubnet, BridgeDevice: e.bridgeDevice})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func (e *testEnv) cleanup(t *testing.T) {
	ctx := context.Background()
	m, err := New(ctx, Config{DataRoot: e.dataRoot, ExecRoot: e.execRoot,
		BridgeSubnet: e.bridgeSubnet, BridgeDevice: e.bridgeDevice})
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	m.mu.Lock()
	var eps []*Endpoint
	for _, ep := range m.endpoints {
		eps = append(eps, ep)
	}
	m.mu.Unlock()
	for _, ep := range eps {
		if err := m.Disconnect(ctx, ep.NetworkID, ep.ContainerID, ""); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(e.execRoot, "netns", "*"))
	for _, f := range files {
		m.RemoveNetNS(f)
	}
	for _, n := range m.List() {
		if !n.Predefined() {
			if err := m.Remove(ctx, n.ID); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	}
	// The predefined bridge is never removed by the manager: do it by hand.
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.networks {
		if n.Driver == DriverBridge {
			m.rules.remove(n.Network)
			deleteLink(n.Bridge)
		}
	}
}

// inNetNS runs fn on a thread inside the namespace at path; sockets made
// there stay in that namespace after fn returns.
func inNetNS(t testing.TB, path string, fn func() error) {
	t.Helper()
	ns, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	err = inNewThread(func() error {
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			return err
		}
		return fn()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// serve listens on port inside a namespace and answers every connection
// with reply.
func serve(t testing.TB, nsPath string, port int, reply string) {
	t.Helper()
	var l net.Listener
	inNetNS(t, nsPath, func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, reply)
			c.Close()
		}
	}()
}

// fetch connects to addr and returns what the server says.
func fetch(addr string) (string, error) {
	c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// fetchFrom is fetch from inside a namespace.
func fetchFrom(t testing.TB, nsPath, addr string) (string, error) {
	var c net.Conn
	var derr error
	inNetNS(t, nsPath, func() error {
		c, derr = net.DialTimeout("tcp4", addr, 2*time.Second)
		return nil
	})
	if derr != nil {
		return "", derr
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// hostIP is the address of the interface of the host's default route.
func hostIP(t testing.TB) string {
	t.Helper()
	f, err := os.Open("/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 7 && fields[1] == "00000000" && fields[7] == "00000000" {
			ifc, err := net.InterfaceByName(fields[0])
			if err != nil {
				t.Fatal(err)
			}
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
					return ipn.IP.String()
				}
			}
		}
	}
	t.Skip("no default route with an IPv4 address: cannot test reaching the host's main IP")
	return ""
}

// freePort is a TCP port nothing listens on now.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostVeths lists the veth devices on the host.
func hostVeths(t testing.TB) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "veth") {
			out = append(out, i.Name)
		}
	}
	sort.Strings(out)
	return out
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// iptablesRules is iptables-save without comments and counters.
func iptablesRules(t testing.TB) string {
	out, err := iptablesSave("nat", "filter")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, counters.ReplaceAllString(l, ""))
		}
	}
	return strings.Join(keep, "\n")
}

// allocatedIPs lists the addresses host-local holds for a network.
func allocatedIPs(m *Manager, n *Network) []string {
	files, _ := filepath.Glob(filepath.Join(m.paths.ipam, (&Network{ID: n.ID}).cniName(), "*.*.*.*"))
	return files
}

func newNS(t *testing.T, m *Manager, id string) string {
	t.Helper()
	p, err := m.NewNetNS(id)
	if err != nil {
		t.Fatalf("NewNetNS: %v", err)
	}
	return p
}

func TestNetworksCreateListGetRemove(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()

	names := map[string]string{}
	for _, n := range m.List() {
		names[n.Name] = n.Driver
	}
	if names["bridge"] != "bridge" || names["host"] != "host" || names["none"] != "null" {
		t.Fatalf("predefined networks: %v", names)
	}

	subnet := testSubnet(t)
	name := fmt.Sprintf("t%d-a", os.Getpid())
	n, err := m.Create(ctx, CreateRequest{Name: name, Subnet: subnet, Labels: map[string]string{"x": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, sn, _ := net.ParseCIDR(subnet)
	if n.Subnet != subnet || n.Gateway != firstHost(sn).String() || n.Driver != "bridge" || len(n.ID) != 64 {
		t.Fatalf("created %+v", n)
	}
	for _, key := range []string{n.ID, n.ID[:12], name} {
		got, err := m.Get(key)
		if err != nil || got.ID != n.ID {
			t.Fatalf("Get(%s) = %v, %v", key, got, err)
		}
	}
	if _, err := m.Get("no-such-net"); !errdefs.IsNotFound(err) {
		t.Fatalf("Get unknown: %v", err)
	}

	_, err = m.Create(ctx, CreateRequest{Name: name})
	if !errdefs.IsConflict(err) || err.Error() != "network with name "+name+" already exists" {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := m.Create(ctx, CreateRequest{Name: name + "-b", Subnet: strings.TrimSuffix(subnet, "/26") + "/27"}); !errdefs.IsConflict(err) {
		t.Fatalf("overlapping subnet: %v", err)
	}
	for _, bad := range []CreateRequest{
		{Name: name + "-c", Subnet: "10.300.0.0/24"},
		{Name: name + "-c", Subnet: "fd00::/64"},
		{Name: name + "-c", Subnet: "10.249.255.0/24", Gateway: "10.1.1.1"},
		{Name: "bad/name"},
		{Name: name + "-c", Driver: "macvlan"},
	} {
		if _, err := m.Create(ctx, bad); err == nil {
			t.Fatalf("Create(%+v) succeeded", bad)
		}
	}

	auto, err := m.Create(ctx, CreateRequest{Name: name + "-auto"})
	if err != nil {
		t.Fatal(err)
	}
	_, autoNet, _ := net.ParseCIDR(auto.Subnet)
	if ones, _ := autoNet.Mask.Size(); ones != 24 || !strings.HasPrefix(auto.Subnet, "10.21") {
		t.Fatalf("auto subnet %s", auto.Subnet)
	}
	if iptablesCount(t, ruleComment(auto)) != 7 {
		t.Fatalf("rules of %s:\n%s", auto.Name, iptablesRules(t))
	}

	if err := m.Remove(ctx, "bridge"); !errdefs.IsConflict(err) {
		t.Fatalf("remove predefined: %v", err)
	}
	if err := m.Remove(ctx, auto.ID); err != nil {
		t.Fatal(err)
	}
	if iptablesCount(t, ruleComment(auto)) != 0 {
		t.Fatal("rules left after Remove")
	}
	if _, err := os.Stat(filepath.Join(m.paths.networks, auto.ID+".json")); !os.IsNotExist(err) {
		t.Fatalf("network file left: %v", err)
	}

	pruned, err := m.Prune(ctx, []string{"x=1"})
	if err != nil || len(pruned) != 1 || pruned[0] != name {
		t.Fatalf("prune: %v %v", pruned, err)
	}
}

func iptablesCount(t testing.TB, s string) int { return strings.Count(iptablesRules(t), s) }

func TestBridgePublishedPortAndOutbound(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()
	id := fmt.Sprintf("c%dpub", os.Getpid())
	ns := newNS(t, m, id)
	hostPort := freePort(t)

	ep, err := m.Connect(ctx, "bridge", ns, EndpointConfig{ContainerID: id, ContainerName: "web",
		Ports: []PortMapping{{HostPort: hostPort, ContainerPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	_, subnet, _ := net.ParseCIDR(e.bridgeSubnet)
	if !subnet.Contains(net.ParseIP(ep.IP)) || ep.Interface != "eth0" || ep.PrefixLen != 24 || ep.MAC == "" {
		t.Fatalf("endpoint %+v", ep)
	}
	gw := firstHost(subnet).String()
	if ep.Gateway != gw {
		t.Fatalf("gateway %s, want %s", ep.Gateway, gw)
	}
	inNetNS(t, ns, func() error {
		lo, err := net.InterfaceByName("lo")
		if err != nil || lo.Flags&net.FlagUp == 0 {
			return fmt.Errorf("lo not up: %v", err)
		}
		b, err := os.ReadFile("/proc/thread-self/net/route")
		if err != nil {
			return err
		}
		// default route: destination 0, gateway = gw in little-endian hex
		g := net.ParseIP(gw).To4()
		want := fmt.Sprintf("eth0\t00000000\t%02X%02X%02X%02X", g[3], g[2], g[1], g[0])
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("no default route via %s:\n%s", gw, b)
		}
		return nil
	})

	serve(t, ns, 80, "hello from the container")
	for _, addr := range []string{"127.0.0.1", hostIP(t)} {
		got, err := fetch(net.JoinHostPort(addr, fmt.Sprint(hostPort)))
		if err != nil || got != "hello from the container" {
			t.Fatalf("published port on %s: %q, %v\n%s", addr, got, err, iptablesRules(t))
		}
	}

	// Outbound: the container reaches a server on the host's main address
	// through its gateway.
	l, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.WriteString(c, "hello from the host")
			c.Close()
		}
	}()
	got, err := fetchFrom(t, ns, net.JoinHostPort(hostIP(t), fmt.Sprint(l.Addr().(*net.TCPAddr).Port)))
	if err != nil || got != "hello from the host" {
		t.Fatalf("outbound: %q %v", got, err)
	}

	if err := m.Disconnect(ctx, "bridge", id, ""); err != nil {
		t.Fatal(err)
	}
	if rules := iptablesRules(t); strings.Contains(rules, ep.IP+":80") || strings.Contains(rules, id) {
		t.Fatalf("rules left for %s:\n%s", id, rules)
	}
	if err := m.Disconnect(ctx, "bridge", id, ""); !errdefs.IsNotFound(err) {
		t.Fatalf("second Disconnect: %v", err)
	}
	if err := m.RemoveNetNS(ns); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveNetNS(ns); err != nil {
		t.Fatalf("RemoveNetNS twice: %v", err)
	}
}

func TestUserNetworkPeers(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()
	n, err := m.Create(ctx, CreateRequest{Name: fmt.Sprintf("t%d-peers", os.Getpid()), Subnet: testSubnet(t)})
	if err != nil {
		t.Fatal(err)
	}
	var eps []*Endpoint
	var nss []string
	for i, name := range []string{"alpha", "beta"} {
		id := fmt.Sprintf("c%dpeer%d", os.Getpid(), i)
		ns := newNS(t, m, id)
		ep, err := m.Connect(ctx, n.Name, ns, EndpointConfig{ContainerID: id, ContainerName: name, Aliases: []string{name + "-alias"}})
		if err != nil {
			t.Fatal(err)
		}
		eps, nss = append(eps, ep), append(nss, ns)
	}
	serve(t, nss[1], 7000, "beta here")
	got, err := fetchFrom(t, nss[0], net.JoinHostPort(eps[1].IP, "7000"))
	if err != nil || got != "beta here" {
		t.Fatalf("alpha -> beta: %q %v", got, err)
	}
	list := m.NetworkEndpoints(n.Name)
	if len(list) != 2 || list[0].ContainerName != "alpha" || list[1].ContainerName != "beta" ||
		list[1].IP != eps[1].IP || list[1].Aliases[0] != "beta-alias" {
		t.Fatalf("NetworkEndpoints: %+v", list)
	}
	if err := m.Remove(ctx, n.Name); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "has active endpoints") {
		t.Fatalf("remove with endpoints: %v", err)
	}

	// A second network gives the container eth1.
	ep2, err := m.Connect(ctx, "bridge", nss[0], EndpointConfig{ContainerID: eps[0].ContainerID, ContainerName: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if ep2.Interface != "eth1" || len(m.Endpoints(eps[0].ContainerID)) != 2 {
		t.Fatalf("second network: %+v", ep2)
	}
	if _, err := m.Connect(ctx, "bridge", nss[0], EndpointConfig{ContainerID: eps[0].ContainerID, ContainerName: "alpha"}); !errdefs.IsConflict(err) {
		t.Fatalf("connecting twice: %v", err)
	}
}

func TestPortConflictLeavesNothing(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()
	port := freePort(t)
	first := fmt.Sprintf("c%dport1", os.Getpid())
	if _, err := m.Connect(ctx, "bridge", newNS(t, m, first), EndpointConfig{ContainerID: first, ContainerName: "one",
		Ports: []PortMapping{{HostPort: port, ContainerPort: 80}}}); err != nil {
		t.Fatal(err)
	}
	bridge, _ := m.Get("bridge")
	rules, veths, ips := iptablesRules(t), hostVeths(t), allocatedIPs(m, bridge)

	second := fmt.Sprintf("c%dport2", os.Getpid())
	ns2 := newNS(t, m, second)
	_, err := m.Connect(ctx, "bridge", ns2, EndpointConfig{ContainerID: second, ContainerName: "two",
		Ports: []PortMapping{{HostPort: port, ContainerPort: 80}}})
	want := fmt.Sprintf("driver failed programming external connectivity on endpoint two: Bind for 0.0.0.0:%d failed: port is already allocated", port)
	if err == nil || err.Error() != want || !errdefs.IsConflict(err) {
		t.Fatalf("second Connect: %v\nwant %s", err, want)
	}

	// A host process on the port: the same refusal.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	if err := m.CheckPorts([]PortMapping{{HostPort: busy, ContainerPort: 80}}); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Fatalf("CheckPorts of a port a host process holds: %v", err)
	}
	if _, err := m.Connect(ctx, "bridge", ns2, EndpointConfig{ContainerID: second, ContainerName: "two",
		Ports: []PortMapping{{HostPort: busy, ContainerPort: 80}}}); err == nil {
		t.Fatal("Connect on a port a host process holds succeeded")
	}

	// A bad protocol is refused before anything is made.
	if _, err := m.Connect(ctx, "bridge", ns2, EndpointConfig{ContainerID: second, ContainerName: "two",
		Ports: []PortMapping{{HostIP: "127.0.0.2", HostPort: freePort(t), ContainerPort: 80, Protocol: "udp"}, {HostPort: freePort(t), ContainerPort: 80, Protocol: "sctp"}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Connect with sctp: %v", err)
	}
	// A failure after CNI ADD took an IP and made the veth: iptables-restore
	// fails; Connect undoes the ADD.
	m.rules.restoreBin = "false"
	_, err = m.Connect(ctx, "bridge", ns2, EndpointConfig{ContainerID: second, ContainerName: "two",
		Ports: []PortMapping{{HostPort: freePort(t), ContainerPort: 80}}})
	m.rules.restoreBin = "iptables-restore"
	if err == nil || !strings.Contains(err.Error(), "driver failed programming external connectivity on endpoint two: iptables-restore") {
		t.Fatalf("Connect with failing iptables-restore: %v", err)
	}
	if _, err := os.Stat(m.endpointPath(endpointKey(second, bridge.ID))); !os.IsNotExist(err) {
		t.Fatalf("endpoint record left: %v", err)
	}

	if got := iptablesRules(t); got != rules {
		t.Fatalf("iptables changed by failed Connects:\nbefore:\n%s\nafter:\n%s", rules, got)
	}
	if got := hostVeths(t); strings.Join(got, ",") != strings.Join(veths, ",") {
		t.Fatalf("veths before %v after %v", veths, got)
	}
	if got := allocatedIPs(m, bridge); len(got) != len(ips) {
		t.Fatalf("IPs before %v after %v", ips, got)
	}
	if len(m.Endpoints(second)) != 0 {
		t.Fatal("endpoint recorded for a failed Connect")
	}
	// The port is free again for the second container once the first leaves.
	if err := m.Disconnect(ctx, "bridge", first, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Connect(ctx, "bridge", ns2, EndpointConfig{ContainerID: second, ContainerName: "two",
		Ports: []PortMapping{{HostPort: port, ContainerPort: 80}}}); err != nil {
		t.Fatal(err)
	}
}

func TestRestartFindsNetworksAndEndpoints(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m1 := e.manager(t)
	n, err := m1.Create(ctx, CreateRequest{Name: fmt.Sprintf("t%d-restart", os.Getpid()), Subnet: testSubnet(t)})
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("c%drestart", os.Getpid())
	ns := newNS(t, m1, id)
	port := freePort(t)
	ep, err := m1.Connect(ctx, n.Name, ns, EndpointConfig{ContainerID: id, ContainerName: "r",
		Ports: []PortMapping{{HostPort: port, ContainerPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	vethsWith := hostVeths(t)

	m2 := e.manager(t)
	got, err := m2.Get(n.Name)
	if err != nil || got.ID != n.ID || got.Subnet != n.Subnet {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	eps := m2.Endpoints(id)
	if len(eps) != 1 || eps[0].IP != ep.IP || eps[0].Ports[0].HostPort != port {
		t.Fatalf("endpoints after restart: %+v", eps)
	}
	if err := m2.CheckPorts([]PortMapping{{HostPort: port, ContainerPort: 1}}); err == nil {
		t.Fatal("published port not known after restart")
	}
	// The namespace is gone before the Disconnect, as after a crash.
	if err := m2.RemoveNetNS(ns); err != nil {
		t.Fatal(err)
	}
	if err := m2.Disconnect(ctx, n.Name, id, ""); err != nil {
		t.Fatal(err)
	}
	rules := iptablesRules(t)
	if strings.Contains(rules, ep.IP) || strings.Contains(rules, id) {
		t.Fatalf("rules left:\n%s", rules)
	}
	if len(hostVeths(t)) >= len(vethsWith) {
		t.Fatalf("veth left: %v (with the endpoint: %v)", hostVeths(t), vethsWith)
	}
	if ips := allocatedIPs(m2, n); len(ips) != 0 {
		t.Fatalf("IPs left: %v", ips)
	}
	if err := m2.Remove(ctx, n.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(n.Bridge); err == nil {
		t.Fatalf("bridge %s left after Remove", n.Bridge)
	}
	if strings.Contains(iptablesRules(t), ruleComment(n)) {
		t.Fatal("network rules left after Remove")
	}
}

func TestNoneNetworkHasLoopbackOnly(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	id := fmt.Sprintf("c%dnone", os.Getpid())
	ns := newNS(t, m, id)
	if _, err := m.Connect(context.Background(), "none", ns, EndpointConfig{ContainerID: id}); err != nil {
		t.Fatal(err)
	}
	inNetNS(t, ns, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
			return fmt.Errorf("interfaces in a none netns: %+v", ifs)
		}
		return nil
	})
	if _, err := m.Connect(context.Background(), "bridge", ns, EndpointConfig{ContainerID: id}); !errdefs.IsConflict(err) {
		t.Fatalf("bridge after none: %v", err)
	}
	if err := m.Disconnect(context.Background(), "none", id, ""); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentConnects(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()
	const count = 50 // as many as a compose file may start at once, each publishing a port
	var wg sync.WaitGroup
	errs := make(chan error, count)
	ips := make(chan string, count)
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("c%dmany%d", os.Getpid(), i)
			ns, err := m.NewNetNS(id)
			if err != nil {
				errs <- err
				return
			}
			ep, err := m.Connect(ctx, "bridge", ns, EndpointConfig{ContainerID: id, ContainerName: id,
				Ports: []PortMapping{{ContainerPort: 80}, {ContainerPort: 53, Protocol: "udp"}}})
			if err != nil {
				errs <- err
				return
			}
			ips <- ep.IP
			if nat, err := iptablesSave("nat"); err != nil || strings.Count(nat, portComment(ep)) != 2 {
				errs <- fmt.Errorf("%s: not 2 port rules (%v):\n%s", id, err, nat)
			}
			if err := m.Disconnect(ctx, "bridge", id, ""); err != nil {
				errs <- err
			}
			m.RemoveNetNS(ns)
		}(i)
	}
	wg.Wait()
	close(errs)
	close(ips)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for ip := range ips {
		if seen[ip] {
			t.Errorf("IP %s given twice", ip)
		}
		seen[ip] = true
	}
	if len(m.NetworkEndpoints("bridge")) != 0 {
		t.Fatal("endpoints left")
	}
	if rules := iptablesRules(t); strings.Contains(rules, fmt.Sprintf("xmgr-ep:c%dmany", os.Getpid())) {
		t.Fatalf("port rules left:\n%s", rules)
	}
}

// TestConnectTiming prints what a container start and stop pay for the
// default network, with and without a published port.
func TestConnectTiming(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()
	for _, withPort := range []bool{false, true} {
		const rounds = 20
		var conn, disc, rel, nsTime time.Duration
		for i := 0; i < rounds; i++ {
			id := fmt.Sprintf("c%dtime%d", os.Getpid(), i)
			start := time.Now()
			ns := newNS(t, m, id)
			t0 := time.Now()
			ec := EndpointConfig{ContainerID: id, ContainerName: id}
			if withPort {
				ec.Ports = []PortMapping{{HostPort: 0, ContainerPort: 80}}
			}
			if _, err := m.Connect(ctx, "bridge", ns, ec); err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if i%2 == 0 {
				if err := m.Disconnect(ctx, "bridge", id, ""); err != nil {
					t.Fatal(err)
				}
				disc += time.Since(t1)
				m.RemoveNetNS(ns)
			} else {
				if err := m.Release(ctx, id, ""); err != nil {
					t.Fatal(err)
				}
				rel += time.Since(t1)
			}
			nsTime += t0.Sub(start)
			conn += t1.Sub(t0)
		}
		t.Logf("published port %v: NewNetNS %v, Connect %v, Disconnect %v, Release (with RemoveNetNS) %v (means of %d, %d, %d, %d)",
			withPort, nsTime/rounds, conn/rounds, disc/(rounds/2), rel/(rounds/2), rounds, rounds, rounds/2, rounds/2)
	}
}

func TestReleaseRemovesEverything(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	ctx := context.Background()
	n, err := m.Create(ctx, CreateRequest{Name: fmt.Sprintf("t%d-release", os.Getpid()), Subnet: testSubnet(t)})
	if err != nil {
		t.Fatal(err)
	}
	veths := hostVeths(t)
	id := fmt.Sprintf("c%drelease", os.Getpid())
	ns := newNS(t, m, id)
	port := freePort(t)
	if _, err := m.Connect(ctx, "bridge", ns, EndpointConfig{ContainerID: id, ContainerName: "rel",
		Ports: []PortMapping{{HostPort: port, ContainerPort: 80}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Connect(ctx, n.Name, ns, EndpointConfig{ContainerID: id, ContainerName: "rel"}); err != nil {
		t.Fatal(err)
	}
	if len(hostVeths(t)) != len(veths)+2 {
		t.Fatalf("veths: %v", hostVeths(t))
	}
	if err := m.Release(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if len(m.Endpoints(id)) != 0 {
		t.Fatal("endpoints left after Release")
	}
	if _, err := os.Stat(ns); !os.IsNotExist(err) {
		t.Fatalf("netns file left: %v", err)
	}
	bridge, _ := m.Get("bridge")
	if ips := append(allocatedIPs(m, bridge), allocatedIPs(m, n)...); len(ips) != 0 {
		t.Fatalf("IPs left: %v", ips)
	}
	// The kernel removes the veths with the namespace, a moment later.
	deadline := time.Now().Add(3 * time.Second)
	for len(hostVeths(t)) != len(veths) {
		if time.Now().After(deadline) {
			t.Fatalf("veths left after Release: %v (before: %v)", hostVeths(t), veths)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := iptablesRules(t); strings.Contains(got, id) {
		t.Fatalf("rules left after Release:\n%s", got)
	}
	if err := m.CheckPorts([]PortMapping{{HostPort: port, ContainerPort: 80}}); err != nil {
		t.Fatalf("port still held after Release: %v", err)
	}
}

// TestBridgeIPAsDocker: --bip given as Docker's users give it, the
// bridge's own address with the prefix, makes that address the gateway of
// the default network's subnet, and a container reaches it.
func TestBridgeIPAsDocker(t *testing.T) {
	e := newEnv(t)
	e.bridgeSubnet = strings.Replace(e.bridgeSubnet, ".0/24", ".9/24", 1)
	m := e.manager(t)
	ctx := context.Background()
	id := fmt.Sprintf("c%dbip", os.Getpid())
	ns := newNS(t, m, id)
	ep, err := m.Connect(ctx, "bridge", ns, EndpointConfig{ContainerID: id, ContainerName: "bip"})
	if err != nil {
		t.Fatal(err)
	}
	gw := strings.TrimSuffix(e.bridgeSubnet, "/24")
	if ep.Gateway != gw || ep.IP == gw {
		t.Fatalf("endpoint %+v: want gateway %s", ep, gw)
	}
	if out, err := exec.Command("ip", "-4", "addr", "show", e.bridgeDevice).CombinedOutput(); err != nil || !strings.Contains(string(out), gw+"/24") {
		t.Errorf("bridge %s: %v\n%s", e.bridgeDevice, err, out)
	}
	// The host listens on the bridge's address; the container connects.
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	inNetNS(t, ns, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if ip := c.LocalAddr().(*net.TCPAddr).IP.String(); ip != ep.IP {
			return fmt.Errorf("to the gateway from %s, want %s", ip, ep.IP)
		}
		return nil
	})
}
