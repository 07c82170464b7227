package main

import (
	"bytes"
	"testing"
	"time"
)

type row struct{ A, B string }

func TestTable(t *testing.T) {
	rows := []any{row{"x", "1"}, row{"longer value", "2"}}
	h := map[string]string{"A": "COL A", "B": "COL B"}
	tests := []struct {
		format, want string
	}{
		{"", "COL A          COL B\nx              1\nlonger value   2\n"},
		{"table {{.B}}", "COL B\n1\n2\n"},
		{"{{.A}}:{{.B}}", "x:1\nlonger value:2\n"},
		{`{{.A}}\t{{.B}}`, "x\t1\nlonger value\t2\n"},
		{"{{json .A}}", "\"x\"\n\"longer value\"\n"},
		{"{{upper .A}}", "X\nLONGER VALUE\n"},
		{"{{title .A}}", "X\nLonger value\n"},
		{`{{json "<none>"}}`, "\"<none>\"\n\"<none>\"\n"},
		{"json", "{\"A\":\"x\",\"B\":\"1\"}\n{\"A\":\"longer value\",\"B\":\"2\"}\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := table{format: tt.format, def: "table {{.A}}\t{{.B}}", headers: h}.write(&b, rows)
		if err != nil {
			t.Fatalf("format %q: %v", tt.format, err)
		}
		if b.String() != tt.want {
			t.Errorf("format %q:\n%q\nwant\n%q", tt.format, b.String(), tt.want)
		}
	}
	var b bytes.Buffer
	if err := (table{format: "{{.Nope"}).write(&b, rows); err == nil {
		t.Error("bad template accepted")
	}
}

func TestUnits(t *testing.T) {
	sizes := map[int64]string{0: "0B", 999: "999B", 1240000: "1.24MB", 4261000: "4.26MB", 1e9: "1GB"}
	for n, want := range sizes {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
	if got := since(time.Now().Add(-2*time.Hour - time.Minute)); got != "2 hours ago" {
		t.Errorf("since = %q", got)
	}
	if got := shortID("sha256:0123456789abcdef"); got != "0123456789ab" {
		t.Errorf("shortID = %q", got)
	}
	if got := ellipsis("abcdef", 4); got != "abc…" {
		t.Errorf("ellipsis = %q", got)
	}
}

// TestJSONFormat: --format json is Docker's: keys sorted, HTML escaped.
func TestJSONFormat(t *testing.T) {
	var b bytes.Buffer
	rows := []any{struct{ Z, A string }{"0.0.0.0:80->80/tcp", "x"}}
	if err := (table{format: "json"}).write(&b, rows); err != nil {
		t.Fatal(err)
	}
	if want := `{"A":"x","Z":"0.0.0.0:80-\u003e80/tcp"}` + "\n"; b.String() != want {
		t.Errorf("json: %q, want %q", b.String(), want)
	}
}
