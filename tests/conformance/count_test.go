package conformance

import (
	"os/exec"
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	awk, err := exec.LookPath("awk")
	if err != nil {
		t.Skip("awk not installed")
	}
	cases := []struct {
		name string
		rc   string
		tap  string
		want string
	}{
		{"all ok", "0", "TAP version 13\nok 1 - a\nok 2 - b\n1..2\n", "2 0 0"},
		{"not ok and skip", "0", "ok 1 # SKIP no hugetlb\nnot ok 2 - b\nok 3 # skip x\n1..3\n", "2 1 2"},
		{"plan first, missing results", "0", "1..3\nok 1 - a\n", "1 2 0"},
		{"crash without plan", "1", "ok 1 - a\n", "1 1 0 exit 1"},
		{"crash after plan counts once", "1", "1..2\nok 1 - a\n", "1 1 0 exit 1"},
		{"crash after empty plan", "1", "TAP version 13\n1..0\n", "0 1 0 exit 1"},
		{"timeout", "124", "ok 1 - a\n", "1 1 0 timeout"},
		{"nothing printed", "0", "", "0 1 0 no plan"},
		{"clean empty plan", "0", "TAP version 13\n1..0\n", "1 0 0"},
		{"error diagnostic, empty plan", "0",
			"TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called in the listed order\"\n  }\n  ...\n1..0\n",
			"0 1 0 error"},
		{"empty error diagnostic is no error", "0",
			"TAP version 13\n  ---\n  {\n    \"error\": \"\"\n  }\n  ...\n1..0\n", "1 0 0"},
		{"nested TAP in diagnostics is ignored", "0",
			"  ---\n  {\n    \"stdout\": \"not ok 1 - x\\nok 2\\n1..2\\n\"\n  }\n  ...\nok 1 - outer\n1..1\n",
			"1 0 0"},
		{"runtimetest TAP written directly", "0", "TAP version 13\nok 1 - a\nnot ok 2 - b\n1..2\n", "1 1 0"},
		{"two streams", "0", "TAP version 13\n1..0\nTAP version 13\nok 1 - a\n1..1\n", "1 0 0"},
		{"refused bad value", "0", "", "1 0 0 refused"},
		{"refused, but the file failed", "1", "", "0 1 0 exit 1"},
		{"bad value accepted", "1", "TAP version 13\nok 1 - a\n", "1 1 0 exit 1"},
	}
	// Cases of a *_fail file, where refusing the bad value prints nothing.
	expectFail := map[string]bool{"refused bad value": true, "refused, but the file failed": true, "bad value accepted": true}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectfail := "0"
			if expectFail[c.name] {
				expectfail = "1"
			}
			cmd := exec.Command(awk, "-v", "rc="+c.rc, "-v", "expectfail="+expectfail, "-f", "count.awk")
			cmd.Stdin = strings.NewReader(c.tap)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("awk: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != c.want {
				t.Errorf("count = %q, want %q", got, c.want)
			}
		})
	}
}

func TestRunScriptParses(t *testing.T) {
	if out, err := exec.Command("bash", "-n", "run.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n run.sh: %v\n%s", err, out)
	}
}
