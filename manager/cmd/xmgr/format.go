package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	units "github.com/docker/go-units"
)

// templateFuncs are the functions Docker's --format templates offer.
var templateFuncs = template.FuncMap{
	"json": func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return string(bytes.TrimSpace(b.Bytes()))
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    title,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"truncate": func(s string, n int) string { return string([]rune(s)[:min(n, len([]rune(s)))]) },
	"println":  func(args ...any) string { return fmt.Sprintln(args...) },
}

// title upper-cases the first letter.
func title(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// parseTemplate parses a --format value with Docker's functions.
func parseTemplate(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// table writes rows as Docker's formatter does. format is "table"
// (use def), "table TEMPLATE", "json" (one JSON object a line), or a
// plain template (no header). The header line is the template run on
// headers: a map of the template's field names to the column titles, or a
// row value holding titles (when the rows have methods such as Label).
type table struct {
	format  string
	def     string // the default "table ..." format
	headers any
}

func (t table) write(out io.Writer, rows []any) error {
	format := t.format
	if format == "" || format == "table" {
		format = t.def
	}
	if format == "json" {
		for _, r := range rows {
			if err := writeJSONLine(out, r); err != nil {
				return err
			}
		}
		return nil
	}
	isTable := strings.HasPrefix(format, "table")
	if isTable {
		format = strings.TrimSpace(strings.TrimPrefix(format, "table"))
	}
	// Docker allows a literal \t in the flag value for a tab.
	format = strings.ReplaceAll(format, `\t`, "\t") + "\n"
	tmpl, err := parseTemplate(format)
	if err != nil {
		return err
	}
	var w io.Writer = out
	var tw *tabwriter.Writer
	if isTable {
		tw = tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		w = tw
		var hb bytes.Buffer
		if err := tmpl.Execute(&hb, t.headers); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		if _, err := w.Write(hb.Bytes()); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := tmpl.Execute(w, r); err != nil {
			return fmt.Errorf("template: %w", err)
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// writeJSONLine writes a row as Docker's --format json does: one object
// a line, keys sorted (Docker encodes a map), HTML characters escaped.
func writeJSONLine(out io.Writer, row any) error {
	b, err := json.Marshal(row)
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	if b, err = json.Marshal(fields); err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

// humanSize is Docker's size column: three significant digits in decimal
// units (1.24MB).
func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// since is Docker's "2 hours ago".
func since(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "N/A"
	}
	return units.HumanDuration(time.Now().UTC().Sub(t)) + " ago"
}

// shortID is an ID as Docker's tables show it: 12 hex digits, no algorithm.
func shortID(id string) string {
	if _, hex, ok := strings.Cut(id, ":"); ok {
		id = hex
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// ellipsis cuts s to n runes, ending with "…" when cut.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}

// writeIndentedJSON prints values as Docker's inspect does: one JSON array
// indented by four spaces.
func writeIndentedJSON(out io.Writer, raws []json.RawMessage) error {
	if len(raws) == 0 {
		_, err := io.WriteString(out, "[]\n")
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("[")
	for i, r := range raws {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.Write(r)
	}
	buf.WriteString("]")
	var ind bytes.Buffer
	if err := json.Indent(&ind, buf.Bytes(), "", "    "); err != nil {
		return err
	}
	ind.WriteString("\n")
	_, err := out.Write(ind.Bytes())
	return err
}

// templateData decodes raw JSON for a --format template, numbers kept
// exact (json.Number prints as written, not as 1.2e+06).
func templateData(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// labelled gives a row of a table {{.Label "name"}}: the label's value,
// or LABEL in the header row.
type labelled struct {
	labels map[string]string
	header bool
}

func (l labelled) Label(name string) string {
	if l.header {
		return "LABEL"
	}
	return l.labels[name]
}
