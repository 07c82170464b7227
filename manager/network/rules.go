package network

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Our chains, each jumped to from a built-in chain. Every rule of a network
// carries the comment "xmgr-net:<id12>", every published port's rule
// "xmgr-ep:<container>:<network id12>", so that the rules of one network or
// endpoint can be counted and removed without touching anyone else's.
const (
	natChain     = "XMGR-POSTROUTING" // from nat POSTROUTING
	dnatChain    = "XMGR-DNAT"        // from nat PREROUTING and OUTPUT, for local destinations: published ports
	forwardChain = "XMGR-FORWARD"     // from filter FORWARD (first)
	inputChain   = "XMGR-INPUT"       // from filter INPUT (first)
)

// rule is one iptables rule.
type rule struct {
	table, chain string
	spec         []string
}

// localhost is where connections to a published port on 127.0.0.1 come from.
const localhost = "127.0.0.0/8"

// networkRules are the rules a bridge network needs:
//   - NAT out (not on internal networks): what the bridge plugin's ipMasq
//     would do, but once per subnet instead of per container;
//   - forwarding, which matters when the FORWARD policy is DROP (as Docker
//     leaves it): replies and published ports in, everything from the
//     bridge out; an internal network only talks within its bridge;
//   - for published ports: masquerade connections from 127.0.0.1 (which
//     publish.go lets leave through the bridge with route_localnet) and
//     hairpin connections (a container reaching a published port of its own
//     network through a host address), whose replies would otherwise not
//     come back through the host; and, since route_localnet also lets the
//     containers send to the host's 127.0.0.1, drop new connections from the
//     bridge to 127.0.0.0/8 (the fix of CVE-2020-8558 in kube-proxy).
func networkRules(n *Network) []rule {
	br, c := n.Bridge, []string{"-m", "comment", "--comment", ruleComment(n)}
	with := func(table, chain string, spec ...string) rule {
		return rule{table, chain, append(append([]string{}, spec...), c...)}
	}
	published := []rule{
		with("nat", natChain, "-s", localhost, "-o", br, "-j", "MASQUERADE"),
		with("nat", natChain, "-s", n.Subnet, "-o", br, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"),
		with("filter", inputChain, "-i", br, "-d", localhost, "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED", "-j", "DROP"),
	}
	if n.Internal {
		return append([]rule{
			with("filter", forwardChain, "-i", br, "-o", br, "-j", "ACCEPT"),
			with("filter", forwardChain, "-i", br, "-j", "DROP"),
			with("filter", forwardChain, "-o", br, "-j", "DROP"),
		}, published...)
	}
	return append([]rule{
		with("nat", natChain, "-s", n.Subnet, "!", "-o", br, "-j", "MASQUERADE"),
		with("filter", forwardChain, "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
		with("filter", forwardChain, "-o", br, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"),
		with("filter", forwardChain, "-i", br, "-j", "ACCEPT"),
	}, published...)
}

func ruleComment(n *Network) string { return "xmgr-net:" + n.ID[:12] }

// restoreMu serializes our iptables-restore runs: each is a few
// milliseconds, and 50 containers starting at once should queue here rather
// than contend for the xtables lock or retry nftables transactions.
var restoreMu sync.Mutex

// rules sets up and removes the networks' and endpoints' iptables rules. It
// reads the tables once (at New) so that a daemon start does not re-run the
// setup of networks whose rules are in place.
type rules struct {
	saved      string // iptables-save of nat and filter at New
	restoreBin string // "iptables-restore"; tests make it fail
}

// loadRules makes our chains and their jumps if missing. This runs iptables
// once per missing piece: at the first start on a host, never per container.
func loadRules() (*rules, error) {
	saved, err := iptablesSave("nat", "filter")
	if err != nil {
		return nil, err
	}
	r := &rules{saved: saved, restoreBin: "iptables-restore"}
	local := []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", dnatChain}
	for _, c := range []struct {
		table, chain string
		jumps        []rule
		how          string
	}{
		{"nat", natChain, []rule{{"nat", "POSTROUTING", []string{"-j", natChain}}}, "-A"},
		{"nat", dnatChain, []rule{{"nat", "PREROUTING", local}, {"nat", "OUTPUT", local}}, "-A"},
		{"filter", forwardChain, []rule{{"filter", "FORWARD", []string{"-j", forwardChain}}}, "-I"},
		{"filter", inputChain, []rule{{"filter", "INPUT", []string{"-j", inputChain}}}, "-I"},
	} {
		if !strings.Contains(saved, ":"+c.chain+" ") {
			if out, err := iptables("-t", c.table, "-N", c.chain); err != nil && !strings.Contains(out, "exists") {
				return nil, err
			}
		}
		for _, j := range c.jumps {
			if err := r.ensureRule(c.how, j); err != nil {
				return nil, err
			}
		}
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
		// Some are missing or from an older version: start over.
		if err := r.removeTagged(want, ruleComment(n)); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	if err := r.restore("-A", want); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return nil
}

// remove deletes a network's rules.
func (r *rules) remove(n *Network) error {
	if err := r.removeTagged(networkRules(n), ruleComment(n)); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	r.saved = strings.ReplaceAll(r.saved, ruleComment(n), "")
	return nil
}

// removeTagged deletes rules that all carry the comment tag, in one
// iptables-restore. That refuses the whole batch when one rule is missing
// (removed by hand, a reboot, an older version's rules); then every rule that
// carries the tag is deleted instead, as iptables-save shows them.
func (r *rules) removeTagged(rs []rule, tag string) error {
	if len(rs) == 0 || r.restore("-D", rs) == nil {
		return nil
	}
	var tables []string
	for _, ru := range rs {
		if !slices.Contains(tables, ru.table) {
			tables = append(tables, ru.table)
		}
	}
	saved, err := iptablesSave(tables...)
	if err != nil {
		return err
	}
	return r.run(taggedDeletions(saved, tag))
}

// taggedDeletions turns the rules of iptables-save output that carry the
// comment tag into iptables-restore input that deletes them; "" if none.
func taggedDeletions(saved, tag string) string {
	var out strings.Builder
	var table string
	var deletions []string
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table, deletions = line, nil
		case line == "COMMIT":
			if len(deletions) > 0 {
				out.WriteString(table + "\n" + strings.Join(deletions, "\n") + "\nCOMMIT\n")
			}
			deletions = nil
		case strings.HasPrefix(line, "-A ") && hasComment(line, tag):
			deletions = append(deletions, "-D "+line[len("-A "):])
		}
	}
	return out.String()
}

// hasComment reports whether a rule of iptables-save carries exactly the
// comment tag (not one that only starts with it).
func hasComment(line, tag string) bool {
	line += " "
	return strings.Contains(line, "--comment "+tag+" ") || strings.Contains(line, `--comment "`+tag+`" `)
}

// restore applies rules (op: -A or -D) in one iptables-restore --noflush.
func (r *rules) restore(op string, rs []rule) error {
	return r.run(restoreScript(op, rs))
}

// restoreScript is iptables-restore input that applies op to rules, grouped
// by table in the order the tables first appear.
func restoreScript(op string, rs []rule) string {
	var tables []string
	byTable := map[string][]rule{}
	for _, ru := range rs {
		if byTable[ru.table] == nil {
			tables = append(tables, ru.table)
		}
		byTable[ru.table] = append(byTable[ru.table], ru)
	}
	var b strings.Builder
	for _, t := range tables {
		b.WriteString("*" + t + "\n")
		for _, ru := range byTable[t] {
			b.WriteString(op + " " + ru.chain)
			for _, arg := range ru.spec {
				b.WriteString(" " + quoteArg(arg))
			}
			b.WriteString("\n")
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// quoteArg quotes an argument that iptables-restore would split.
func quoteArg(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'") {
		return strconv.Quote(s)
	}
	return s
}

// run feeds a script to iptables-restore --noflush, which applies each
// table's part atomically. -w waits for the xtables lock that other
// programs' iptables runs hold.
func (r *rules) run(script string) error {
	if script == "" {
		return nil
	}
	restoreMu.Lock()
	defer restoreMu.Unlock()
	cmd := exec.Command(r.restoreBin, "-w", "--noflush")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables-restore: %v: %s (input:\n%s)", err, bytes.TrimSpace(out), script)
	}
	return nil
}

func iptables(args ...string) (string, error) {
	cmd := exec.Command("iptables", append([]string{"-w"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// iptablesSave returns tables as iptables-save prints them.
func iptablesSave(tables ...string) (string, error) {
	var all strings.Builder
	for _, table := range tables {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return "", fmt.Errorf("iptables-save -t %s: %w", table, err)
		}
		all.Write(out)
	}
	return all.String(), nil
}
