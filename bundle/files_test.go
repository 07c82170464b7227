package bundle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/xrt-dev/xrt/specs"
)

func TestHostsFile(t *testing.T) {
	got := string(HostsFile("web", []string{"172.17.0.2"}, []HostEntry{
		{IP: "10.0.0.1", Names: []string{"db", "db.local"}},
		{IP: "10.0.0.2", Names: []string{"cache"}},
	}))
	want := "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n" +
		"10.0.0.1\tdb db.local\n" +
		"10.0.0.2\tcache\n" +
		"172.17.0.2\tweb\n"
	if got != want {
		t.Errorf("hosts =\n%s\nwant\n%s", got, want)
	}
	// --network none: no address, only the localhost lines.
	if got := string(HostsFile("web", nil, nil)); got != want[:len(want)-len("10.0.0.1\tdb db.local\n10.0.0.2\tcache\n172.17.0.2\tweb\n")] {
		t.Errorf("no ips:\n%s", got)
	}
}

func TestResolvConf(t *testing.T) {
	host := "# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nnameserver ::1\noptions edns0\n"
	cases := []struct {
		name                 string
		host                 string
		dns, search, options []string
		want                 string
	}{
		{name: "host kept, loopback dropped", host: host,
			want: "# generated\nsearch corp.example\nnameserver 10.1.1.1\noptions edns0\n"},
		{name: "only loopback: Google's", host: "nameserver 127.0.0.1\nnameserver ::1\nsearch a",
			want: "search a\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{name: "empty host", host: "", want: "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{name: "127.x anywhere in 127/8", host: "nameserver 127.1.2.3\nnameserver 1.1.1.1\n", want: "nameserver 1.1.1.1\n"},
		{name: "--dns replaces nameservers", host: host, dns: []string{"9.9.9.9"},
			want: "search corp.example\nnameserver 9.9.9.9\noptions edns0\n"},
		{name: "--dns-search and --dns-option", host: host, search: []string{"a.example", "b.example"}, options: []string{"ndots:2"},
			want: "search a.example b.example\nnameserver 10.1.1.1\noptions ndots:2\n"},
		{name: "--dns-search . means none", host: host, search: []string{"."},
			want: "nameserver 10.1.1.1\noptions edns0\n"},
		{name: "--dns-option over a host with only loopback", host: "nameserver 127.0.0.53\n", options: []string{"rotate"},
			want: "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions rotate\n"},
	}
	for _, c := range cases {
		if got := string(ResolvConf([]byte(c.host), c.dns, c.search, c.options)); got != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	s := mustGenerate(t, baseOptions(t))
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	back, err := specs.Load(dir)
	if err != nil {
		t.Fatalf("specs.Load: %v", err)
	}
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Error("config.json does not read back as written")
	}
	// Rewriting replaces it, and leaves no temporary file behind.
	s.Hostname = "again"
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only config.json", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing"), s); err == nil {
		t.Error("writing into a missing directory worked")
	}
	if err := Write(dir, nil); err == nil {
		t.Error("a nil spec was written")
	}
}
