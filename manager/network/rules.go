package network

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Our chains, each jumped to once from the built-in chain. Every rule of a
// network carries the comment "xmgr-net:<id12>", so the rules of one network
// can be counted and removed without touching anyone else's.
const (
	natChain     = "XMGR-POSTROUTING" // from nat POSTROUTING
	forwardChain = "XMGR-FORWARD"     // from filter FORWARD (first)
	setMarkChain = "XMGR-HOSTPORT-SETMARK"
	masqMark     = "0x2000/0x2000" // portmap's default mark bit
)

// rule is one iptables rule of a network.
type rule struct {
	table, chain string
	spec         []string
}

// networkRules are the rules a bridge network needs:
//   - NAT out (not on internal networks): what the bridge plugin's ipMasq
//     would do, but once per subnet instead of per container;
//   - forwarding, which matters when the FORWARD policy is DROP (as Docker
//     leaves it): replies and published ports in, everything from the
//     bridge out; an internal network only talks within its bridge.
func networkRules(n *Network) []rule {
	br, c := n.Bridge, []string{"-m", "comment", "--comment", ruleComment(n)}
	with := func(table, chain string, spec ...string) rule {
		return rule{table, chain, append(append([]string{}, spec...), c...)}
	}
	if n.Internal {
		return []rule{
			with("filter", forwardChain, "-i", br, "-o", br, "-j", "ACCEPT"),
			with("filter", forwardChain, "-i", br, "-j", "DROP"),
			with("filter", forwardChain, "-o", br, "-j", "DROP"),
		}
	}
	return []rule{
		with("nat", natChain, "-s", n.Subnet, "!", "-o", br, "-j", "MASQUERADE"),
		with("filter", forwardChain, "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
		with("filter", forwardChain, "-o", br, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"),
		with("filter", forwardChain, "-i", br, "-j", "ACCEPT"),
	}
}

func ruleComment(n *Network) string { return "xmgr-net:" + n.ID[:12] }

// rules sets up and removes the networks' iptables rules. It reads the
// tables once (at New) so that a daemon start does not re-run the setup of
// networks whose rules are in place.
type rules struct {
	saved string // iptables-save of nat and filter at New
}

// loadRules makes our chains, their jumps and the masquerade-by-mark rules
// if missing.
func loadRules() (*rules, error) {
	saved, err := iptablesSave()
	if err != nil {
		return nil, err
	}
	r := &rules{saved: saved}
	for _, c := range []struct{ table, chain, parent, how string }{
		{"nat", natChain, "POSTROUTING", "-A"},
		{"filter", forwardChain, "FORWARD", "-I"},
		{"nat", setMarkChain, "", ""},
	} {
		if !strings.Contains(saved, ":"+c.chain+" ") {
			if out, err := iptables("-t", c.table, "-N", c.chain); err != nil && !strings.Contains(out, "exists") {
				return nil, err
			}
		}
		if c.parent != "" {
			if err := r.ensureRule(c.how, rule{c.table, c.parent, []string{"-j", c.chain}}); err != nil {
				return nil, err
			}
		}
	}
	// portmap marks connections from 127.0.0.1 and hairpin connections
	// through our set-mark chain (externalSetMarkChain: portmap then does
	// not check its own chains at every ADD); we masquerade them.
	if err := r.ensureRule("-A", rule{"nat", setMarkChain, []string{"-j", "MARK", "--set-xmark", masqMark}}); err != nil {
		return nil, err
	}
	if err := r.ensureRule("-I", rule{"nat", natChain, []string{"-m", "mark", "--mark", masqMark, "-j", "MASQUERADE"}}); err != nil {
		return nil, err
	}
	return r, nil
}

// ensureRule adds a rule (how: -A or -I) unless iptables-save showed it or
// iptables -C finds it.
func (r *rules) ensureRule(how string, ru rule) error {
	if strings.Contains(r.saved, "-A "+ru.chain+" "+strings.Join(ru.spec, " ")+"\n") {
		return nil
	}
	if _, err := iptables(append([]string{"-t", ru.table, "-C", ru.chain}, ru.spec...)...); err == nil {
		return nil
	}
	_, err := iptables(append([]string{"-t", ru.table, how, ru.chain}, ru.spec...)...)
	return err
}

// ensure adds a network's rules unless all of them are there already.
func (r *rules) ensure(n *Network) error {
	want := networkRules(n)
	switch strings.Count(r.saved, ruleComment(n)) {
	case len(want):
		return nil
	case 0:
	default:
		r.delete(want) // some are missing: start over
	}
	for _, ru := range want {
		if _, err := iptables(append([]string{"-t", ru.table, "-A", ru.chain}, ru.spec...)...); err != nil {
			r.delete(want)
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	return nil
}

// remove deletes a network's rules.
func (r *rules) remove(n *Network) error {
	r.delete(networkRules(n))
	r.saved = strings.ReplaceAll(r.saved, ruleComment(n), "")
	return nil
}

// delete removes rules; a missing one is fine.
func (r *rules) delete(rs []rule) {
	for _, ru := range rs {
		iptables(append([]string{"-t", ru.table, "-D", ru.chain}, ru.spec...)...)
	}
}

func iptables(args ...string) (string, error) {
	cmd := exec.Command("iptables", append([]string{"-w"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// iptablesSave returns the nat and filter tables as iptables-save prints them.
func iptablesSave() (string, error) {
	var all strings.Builder
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return "", fmt.Errorf("iptables-save -t %s: %w", table, err)
		}
		all.Write(out)
	}
	return all.String(), nil
}
