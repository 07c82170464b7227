package volumes

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xrt-dev/xrt/manager/errdefs"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "volumes")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func TestNameRules(t *testing.T) {
	s, root := newStore(t)
	tests := []struct {
		name    string
		wantErr string
	}{
		{"ab", ""},
		{"my-vol_1.0", ""},
		{"9lives", ""},
		{"a", "create a: volume name is too short, names should be at least two alphanumeric characters"},
		{"-ab", `create -ab: "-ab" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{".hidden", "includes invalid characters"},
		{"a/b", "includes invalid characters"},
		{"../x", "includes invalid characters"},
		{"/abs/path", "includes invalid characters"},
		{"sp ace", "includes invalid characters"},
	}
	for _, tt := range tests {
		_, err := s.Create(tt.name, "", nil, nil)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Create(%q): %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("Create(%q) = %v, want invalid argument containing %q", tt.name, err, tt.wantErr)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 3 {
		t.Errorf("root holds %d entries, want the 3 valid volumes", len(entries))
	}
}

func TestCreateGetListRemove(t *testing.T) {
	s, root := newStore(t)
	labels := map[string]string{"app": "chat"}
	v, err := s.Create("data", "local", nil, labels)
	if err != nil {
		t.Fatal(err)
	}
	labels["app"] = "changed by the caller"
	if v.Name != "data" || v.Driver != "local" || v.Scope != "local" || v.CreatedAt.IsZero() {
		t.Errorf("created %+v", v)
	}
	if want := filepath.Join(root, "data", "_data"); v.Mountpoint != want {
		t.Errorf("Mountpoint = %s, want %s", v.Mountpoint, want)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("mount point: %v", err)
	}
	got, err := s.Get("data")
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["app"] != "chat" {
		t.Errorf("labels = %v: the store kept the caller's map", got.Labels)
	}
	got.Labels["app"] = "changed by a reader"
	if again, _ := s.Get("data"); again.Labels["app"] != "chat" {
		t.Error("Get returned the store's own map")
	}

	anon, err := s.Create("", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon.Name) {
		t.Errorf("anonymous name %q is not 64 hex digits", anon.Name)
	}
	list := s.List()
	if len(list) != 2 {
		t.Fatalf("List has %d volumes, want 2", len(list))
	}
	if list[0].Name > list[1].Name {
		t.Error("List is not sorted by name")
	}

	if err := s.Remove("data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "data")); !os.IsNotExist(err) {
		t.Errorf("removed volume's directory: %v", err)
	}
	_, err = s.Get("data")
	if !errdefs.IsNotFound(err) || err.Error() != "get data: no such volume" {
		t.Errorf("Get after Remove = %v", err)
	}
	if err := s.Remove("data", false); !errdefs.IsNotFound(err) {
		t.Errorf("second Remove = %v, want not found", err)
	}
	if err := s.Remove("data", true); err != nil {
		t.Errorf("Remove -f of a missing volume = %v, want nil", err)
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	s, _ := newStore(t)
	opts := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
	first, err := s.Create("cache", "", opts, map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Create("cache", "local", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, map[string]string{"b": "2"})
	if err != nil {
		t.Fatalf("creating the same volume again: %v", err)
	}
	if !again.CreatedAt.Equal(first.CreatedAt) || again.Labels["a"] != "1" {
		t.Errorf("second create returned %+v, want the first volume", again)
	}
	_, err = s.Create("cache", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}, nil)
	if !errdefs.IsConflict(err) {
		t.Errorf("create with other options = %v, want conflict", err)
	}
	if _, err := s.Create("plain", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("plain", "", map[string]string{}, nil); err != nil {
		t.Errorf("no options and empty options should be the same: %v", err)
	}
}

func TestCreateRefusesBadDriverAndOptions(t *testing.T) {
	s, root := newStore(t)
	tests := []struct {
		driver string
		opts   map[string]string
		is     func(error) bool
		want   string
	}{
		{"nfs-plugin", nil, errdefs.IsNotFound, `create v1: error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found`},
		{"", map[string]string{"colour": "blue"}, errdefs.IsInvalidArgument, `create v1: invalid option: "colour"`},
		{"", map[string]string{"type": "tmpfs"}, errdefs.IsInvalidArgument, `create v1: missing required option: "device"`},
		{"", map[string]string{"o": "size=1m"}, errdefs.IsInvalidArgument, `create v1: missing required option: "device"`},
		{"", map[string]string{"size": "1g"}, errdefs.IsInvalidArgument, "quota"},
	}
	for _, tt := range tests {
		_, err := s.Create("v1", tt.driver, tt.opts, nil)
		if err == nil || !tt.is(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Create(driver %q, opts %v) = %v, want %q", tt.driver, tt.opts, err, tt.want)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("refused creates left %d entries in the root", len(entries))
	}
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	s, root := newStore(t)
	// A file where the volume's directory goes makes the final rename fail.
	if err := os.WriteFile(filepath.Join(root, "blocked"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("blocked", "", nil, nil); err == nil {
		t.Fatal("Create over a file succeeded")
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "blocked" {
		t.Errorf("root holds %v after a failed create, want only the blocking file", entries)
	}
	if _, err := s.Get("blocked"); !errdefs.IsNotFound(err) {
		t.Errorf("a failed create is known: %v", err)
	}
}

func TestRestartKeepsVolumes(t *testing.T) {
	s, root := newStore(t)
	opts := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
	made, err := s.Create("keep", "", opts, map[string]string{"tier": "db"})
	if err != nil {
		t.Fatal(err)
	}
	// Leftovers of a create and a remove cut short by a crash.
	for _, d := range []string{".creating-123", ".removing-old-abc/_data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A directory made by hand is a volume, as in Docker.
	if err := os.MkdirAll(filepath.Join(root, "byhand"), 0o755); err != nil {
		t.Fatal(err)
	}

	s2, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get("keep")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(made.CreatedAt) || got.Labels["tier"] != "db" || got.Options["o"] != "size=1m" || got.Mountpoint != made.Mountpoint {
		t.Errorf("after restart %+v, want %+v", got, made)
	}
	hand, err := s2.Get("byhand")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(hand.Mountpoint); err != nil {
		t.Errorf("adopted volume has no _data: %v", err)
	}
	for _, d := range []string{".creating-123", ".removing-old-abc"} {
		if _, err := os.Stat(filepath.Join(root, d)); !os.IsNotExist(err) {
			t.Errorf("leftover %s not cleaned up: %v", d, err)
		}
	}
	if len(s2.List()) != 2 {
		t.Errorf("after restart List = %d volumes, want 2", len(s2.List()))
	}
}

func TestRestartRefusesCorruptRecord(t *testing.T) {
	s, root := newStore(t)
	if _, err := s.Create("bad", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bad", recordFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(root)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "bad", recordFile)) {
		t.Errorf("New with a corrupt record = %v, want an error naming the file", err)
	}
}

func TestRemoveRefusesVolumeInUse(t *testing.T) {
	s, root := newStore(t)
	if _, err := s.Create("shared", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	users := map[string][]string{"shared": {"c2", "c1"}}
	s.SetUsers(func(name string) []string { return users[name] })
	for _, force := range []bool{false, true} {
		err := s.Remove("shared", force)
		if !errdefs.IsConflict(err) || err.Error() != "remove shared: volume is in use - [c1, c2]" {
			t.Errorf("Remove(force=%v) of a used volume = %v", force, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "shared", "_data")); err != nil {
		t.Errorf("refused remove damaged the volume: %v", err)
	}

	// A container that has it mounted uses it too.
	users = nil
	if _, err := s.Mount("shared", "c3"); err != nil {
		t.Fatal(err)
	}
	if got := s.Users("shared"); len(got) != 1 || got[0] != "c3" {
		t.Errorf("Users = %v, want [c3]", got)
	}
	if err := s.Remove("shared", false); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "[c3]") {
		t.Errorf("Remove of a mounted volume = %v", err)
	}
	if err := s.Unmount("shared", "c3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("shared", false); err != nil {
		t.Errorf("Remove after the last user left: %v", err)
	}
}

func TestPrune(t *testing.T) {
	s, _ := newStore(t)
	for name, labels := range map[string]map[string]string{
		"used":  {"keep": "no"},
		"big":   {"keep": "no"},
		"kept":  {"keep": "yes"},
		"plain": nil,
	} {
		if _, err := s.Create(name, "", nil, labels); err != nil {
			t.Fatal(err)
		}
	}
	anon, err := s.Create("", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	big, _ := s.Get("big")
	if err := os.WriteFile(filepath.Join(big.Mountpoint, "f"), make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	s.SetUsers(func(name string) []string {
		if name == "used" {
			return []string{"c1"}
		}
		return nil
	})

	deleted, reclaimed, err := s.Prune(ParseLabelFilter("keep=yes", true))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(deleted)
	want := []string{anon.Name, "big", "plain"}
	slices.Sort(want)
	if !slices.Equal(deleted, want) || reclaimed != 5000 {
		t.Errorf("Prune(label!=keep=yes) = %v, %d; want %v, 5000", deleted, reclaimed, want)
	}
	deleted, _, err = s.Prune(ParseLabelFilter("keep", false))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deleted, ",") != "kept" {
		t.Errorf("Prune(label=keep) = %v, want [kept]", deleted)
	}
	deleted, _, err = s.Prune()
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 0 {
		t.Errorf("Prune() = %v, want nothing: only the used volume is left", deleted)
	}
	if list := s.List(); len(list) != 1 || list[0].Name != "used" {
		t.Errorf("after prunes List = %v, want only the used volume", list)
	}
}

func TestLabelFilter(t *testing.T) {
	labels := map[string]string{"a": "1", "b": ""}
	tests := []struct {
		expr   string
		negate bool
		want   bool
	}{
		{"a", false, true}, {"a=1", false, true}, {"a=2", false, false},
		{"b=", false, true}, {"c", false, false},
		{"a", true, false}, {"a=2", true, true}, {"c", true, true},
	}
	for _, tt := range tests {
		if got := ParseLabelFilter(tt.expr, tt.negate).Match(labels); got != tt.want {
			t.Errorf("filter %q (negate %v) = %v, want %v", tt.expr, tt.negate, got, tt.want)
		}
	}
}

func TestSize(t *testing.T) {
	s, _ := newStore(t)
	v, err := s.Create("sized", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.MkdirAll(filepath.Join(v.Mountpoint, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(v.Mountpoint, "a"), make([]byte, 300), 0o644))
	must(t, os.WriteFile(filepath.Join(v.Mountpoint, "d", "b"), make([]byte, 50), 0o644))
	must(t, os.Link(filepath.Join(v.Mountpoint, "a"), filepath.Join(v.Mountpoint, "d", "a-again")))
	size, err := s.Size("sized")
	if err != nil {
		t.Fatal(err)
	}
	if size != 350 {
		t.Errorf("Size = %d, want 350 (a hard link counts once)", size)
	}
	if _, err := s.Size("nope"); !errdefs.IsNotFound(err) {
		t.Errorf("Size of a missing volume = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
