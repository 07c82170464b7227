package network

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

// Unit tests: no root, no kernel.

func TestValidateRequest(t *testing.T) {
	for _, tc := range []struct {
		req  CreateRequest
		want string // "" = valid; else a part of the error
	}{
		{CreateRequest{Name: "web"}, ""},
		{CreateRequest{Name: "web", Subnet: "10.9.8.7/24"}, ""},
		{CreateRequest{Name: "web", Subnet: "10.9.8.0/24", Gateway: "10.9.8.254", IPRange: "10.9.8.128/25"}, ""},
		{CreateRequest{Name: ""}, "must not be empty"},
		{CreateRequest{Name: "-web"}, "invalid network name"},
		{CreateRequest{Name: "a b"}, "invalid network name"},
		{CreateRequest{Name: "web", Driver: "overlay"}, "plugin \"overlay\" not found"},
		{CreateRequest{Name: "web", Driver: "host"}, "only one instance"},
		{CreateRequest{Name: "web", Subnet: "10.9.8.0"}, "invalid subnet"},
		{CreateRequest{Name: "web", Subnet: "fd00::/64"}, "IPv4"},
		{CreateRequest{Name: "web", Subnet: "10.9.8.0/31"}, "/30 at most"},
		{CreateRequest{Name: "web", Subnet: "10.9.8.0/24", Gateway: "10.9.9.1"}, "invalid gateway"},
		{CreateRequest{Name: "web", Subnet: "10.9.8.0/24", Gateway: "10.9.8.255"}, "invalid gateway"},
		{CreateRequest{Name: "web", Subnet: "10.9.8.0/24", IPRange: "10.9.0.0/16"}, "not inside"},
		{CreateRequest{Name: "web", Gateway: "10.9.8.1"}, "need a subnet"},
		{CreateRequest{Name: "web", Options: map[string]string{bridgeNameOption: "a-name-far-too-long"}}, "invalid bridge name"},
	} {
		n, err := validateRequest(tc.req)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.req, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v (%+v), want error with %q", tc.req, err, n, tc.want)
		}
	}
	n, _ := validateRequest(CreateRequest{Name: "web", Subnet: "10.9.8.7/24"})
	if n.Subnet != "10.9.8.0/24" {
		t.Errorf("subnet not masked: %s", n.Subnet)
	}
	if _, err := validateRequest(CreateRequest{Name: "web", Driver: "x"}); !errdefs.IsNotFound(err) {
		t.Errorf("unknown driver kind: %v", err)
	}
}

func TestSubnetHelpers(t *testing.T) {
	_, a, _ := net.ParseCIDR("10.1.0.0/16")
	_, b, _ := net.ParseCIDR("10.1.2.0/24")
	_, c, _ := net.ParseCIDR("10.2.0.0/24")
	if !overlaps(a, b) || !overlaps(b, a) || overlaps(a, c) || !contains(a, b) || contains(b, a) {
		t.Error("overlaps/contains wrong")
	}
	if firstHost(b).String() != "10.1.2.1" || lastHost(b).String() != "10.1.2.254" || broadcast(b).String() != "10.1.2.255" {
		t.Error("host addresses wrong")
	}
}

func TestParseRoutes(t *testing.T) {
	const table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"xmgr0\t0000D20A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	routes, err := parseRoutes(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range routes {
		got = append(got, r.String())
	}
	if strings.Join(got, " ") != "192.0.2.0/24 10.210.0.0/16" {
		t.Errorf("routes %v", got)
	}
}

func TestFreeSubnetSkipsUsed(t *testing.T) {
	m := &Manager{networks: map[string]*network{}}
	for i, s := range []string{"10.211.0.0/24", "10.211.1.0/25"} {
		id := strings.Repeat(string(rune('a'+i)), 64)
		m.networks[id] = &network{Network: &Network{ID: id, Subnet: s}}
	}
	got, err := m.freeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	if got != "10.211.2.0/24" {
		t.Errorf("free subnet %s, want 10.211.2.0/24 (unless a host route takes it)", got)
	}
	if err := m.checkOverlap("10.211.1.128/25"); err != nil {
		t.Errorf("adjacent subnet refused: %v", err)
	}
	if err := m.checkOverlap("10.211.0.0/16"); !errdefs.IsConflict(err) {
		t.Errorf("overlap: %v", err)
	}
}

func TestMatchLabels(t *testing.T) {
	have := map[string]string{"env": "test", "team": "a"}
	for _, tc := range []struct {
		filters []string
		want    bool
	}{
		{nil, true},
		{[]string{"env"}, true},
		{[]string{"env=test"}, true},
		{[]string{"env=prod"}, false},
		{[]string{"env!=prod"}, true},
		{[]string{"env!=test"}, false},
		{[]string{"!env"}, false},
		{[]string{"!other"}, true},
		{[]string{"env", "team=a"}, true},
		{[]string{"env", "team=b"}, false},
	} {
		if got := matchLabels(have, tc.filters); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.filters, got, tc.want)
		}
	}
}

func TestConflist(t *testing.T) {
	n := &Network{ID: strings.Repeat("ab", 32), Name: "web", Driver: DriverBridge, Subnet: "10.9.8.0/24",
		Gateway: "10.9.8.1", IPRange: "10.9.8.128/25", Bridge: "br-x", Internal: true}
	var got struct {
		CNIVersion, Name string
		Plugins          []map[string]any
	}
	if err := json.Unmarshal(conflist(n, "/ipam"), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "xmgr-abababababab" || got.CNIVersion != cniVersion || len(got.Plugins) != 1 {
		t.Fatalf("%+v", got)
	}
	br := got.Plugins[0]
	if br["type"] != "bridge" || br["bridge"] != "br-x" || br["isDefaultGateway"] != false || br["ipMasq"] != false || br["hairpinMode"] != true {
		t.Errorf("bridge %v", br)
	}
	rng := br["ipam"].(map[string]any)["ranges"].([]any)[0].([]any)[0].(map[string]any)
	if rng["rangeStart"] != "10.9.8.129" || rng["rangeEnd"] != "10.9.8.254" || rng["gateway"] != "10.9.8.1" {
		t.Errorf("range %v", rng)
	}
}

func TestPortRulesScript(t *testing.T) {
	ep := &Endpoint{ContainerID: "c1", NetworkID: strings.Repeat("ab", 32), IP: "10.9.8.2", Ports: []PortMapping{
		{HostPort: 3000, ContainerPort: 3000},
		{HostIP: "127.0.0.1", HostPort: 53, ContainerPort: 5353, Protocol: "udp"},
		{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
	}}
	want := "*nat\n" +
		"-A XMGR-DNAT -p tcp -m tcp --dport 3000 -m comment --comment xmgr-ep:c1:abababababab -j DNAT --to-destination 10.9.8.2:3000\n" +
		"-A XMGR-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 53 -m comment --comment xmgr-ep:c1:abababababab -j DNAT --to-destination 10.9.8.2:5353\n" +
		"-A XMGR-DNAT -p tcp -m tcp --dport 8080 -m comment --comment xmgr-ep:c1:abababababab -j DNAT --to-destination 10.9.8.2:80\n" +
		"COMMIT\n"
	if got := restoreScript("-A", portRules(ep)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	n := &Network{ID: strings.Repeat("cd", 32), Bridge: "br-x", Subnet: "10.9.8.0/24"}
	script := restoreScript("-D", networkRules(n))
	if !strings.HasPrefix(script, "*nat\n-D XMGR-POSTROUTING -s 10.9.8.0/24 ! -o br-x -j MASQUERADE -m comment --comment xmgr-net:cdcdcdcdcdcd\n") ||
		strings.Count(script, "COMMIT\n") != 2 || !strings.Contains(script, "*filter\n") {
		t.Errorf("network rules script:\n%s", script)
	}
	if q := quoteArg("a b"); q != `"a b"` {
		t.Errorf("quoteArg: %s", q)
	}
}

func TestTaggedDeletions(t *testing.T) {
	saved := `# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
:XMGR-DNAT - [0:0]
-A XMGR-DNAT -p tcp -m tcp --dport 1 -m comment --comment xmgr-ep:c1:abc -j DNAT --to-destination 10.0.0.2:1
-A XMGR-DNAT -p tcp -m tcp --dport 2 -m comment --comment xmgr-ep:c10:abc -j DNAT --to-destination 10.0.0.3:2
-A XMGR-DNAT -p udp -m udp --dport 3 -m comment --comment "xmgr-ep:c1:abc" -j DNAT --to-destination 10.0.0.2:3
COMMIT
*filter
-A XMGR-FORWARD -i br -j ACCEPT
COMMIT
`
	want := "*nat\n" +
		"-D XMGR-DNAT -p tcp -m tcp --dport 1 -m comment --comment xmgr-ep:c1:abc -j DNAT --to-destination 10.0.0.2:1\n" +
		`-D XMGR-DNAT -p udp -m udp --dport 3 -m comment --comment "xmgr-ep:c1:abc" -j DNAT --to-destination 10.0.0.2:3` + "\n" +
		"COMMIT\n"
	if got := taggedDeletions(saved, "xmgr-ep:c1:abc"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := taggedDeletions(saved, "xmgr-ep:none"); got != "" {
		t.Errorf("nothing tagged: %q", got)
	}
}

func TestPortClash(t *testing.T) {
	k := func(ip string, port int, proto string) portKey {
		return keyOf(PortMapping{HostIP: ip, HostPort: port, Protocol: proto})
	}
	for _, tc := range []struct {
		a, b portKey
		want bool
	}{
		{k("", 80, ""), k("", 80, "tcp"), true},
		{k("0.0.0.0", 80, "tcp"), k("127.0.0.1", 80, "tcp"), true},
		{k("127.0.0.1", 80, "tcp"), k("127.0.0.2", 80, "tcp"), false},
		{k("", 80, "tcp"), k("", 80, "udp"), false},
		{k("", 80, "tcp"), k("", 81, "tcp"), false},
	} {
		if got := tc.a.clash(tc.b); got != tc.want {
			t.Errorf("%v vs %v: %v", tc.a, tc.b, got)
		}
	}
	if err := validatePorts([]PortMapping{{ContainerPort: 80, Protocol: "sctp"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("sctp: %v", err)
	}
	if err := validatePorts([]PortMapping{{ContainerPort: 0}}); err == nil {
		t.Error("container port 0 accepted")
	}
}

func TestPortReservations(t *testing.T) {
	m := &Manager{ports: map[portKey]string{}}
	m.ports[portKey{Proto: "tcp", Port: 40000}] = "c1/n1"
	err := m.checkPorts("c2/n1", []PortMapping{{HostPort: 40000, ContainerPort: 80}})
	if err == nil || err.Error() != "Bind for 0.0.0.0:40000 failed: port is already allocated" || !errdefs.IsConflict(err) {
		t.Fatalf("taken port: %v", err)
	}
	if err := m.checkPorts("c1/n1", []PortMapping{{HostPort: 40000, ContainerPort: 80}}); err != nil {
		t.Fatalf("own port: %v", err)
	}
	if err := m.checkPorts("c2/n1", []PortMapping{{HostPort: 40001, ContainerPort: 80}, {HostPort: 40001, ContainerPort: 81}}); err == nil {
		t.Fatal("the same host port twice in one request accepted")
	}
}

func TestFreeInterface(t *testing.T) {
	eps := []*Endpoint{{Interface: "eth0"}, {Interface: "eth2"}}
	if got := freeInterface(eps); got != "eth1" {
		t.Errorf("%s", got)
	}
	if got := freeInterface(nil); got != "eth0" {
		t.Errorf("%s", got)
	}
	if !ifaceLess("eth2", "eth10") || ifaceLess("eth10", "eth2") {
		t.Error("ifaceLess")
	}
}

func TestBridgeIP(t *testing.T) {
	for _, tc := range []struct{ bip, subnet, gateway, err string }{
		{"172.26.0.1/16", "172.26.0.0/16", "172.26.0.1", ""},
		{"10.199.3.7/24", "10.199.3.0/24", "10.199.3.7", ""},
		{"10.210.0.0/16", "10.210.0.0/16", "", ""},
		{"10.1.2.255/24", "", "", "broadcast"},
		{"10.1.2.1", "", "", "invalid CIDR"},
		{"10.1.2.1/31", "", "", "/30 at most"},
	} {
		subnet, gw, err := bridgeIP(tc.bip)
		if subnet != tc.subnet || gw != tc.gateway || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("bridgeIP(%q) = %q, %q, %v; want %q, %q, %q", tc.bip, subnet, gw, err, tc.subnet, tc.gateway, tc.err)
		}
	}
}
