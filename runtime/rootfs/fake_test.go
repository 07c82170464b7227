package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// recorder is the test double of system: it records each privileged call as
// a line, with the rootfs shown as <root> and the test's directory as <tmp>,
// and fails the calls listed in fail.
type recorder struct {
	root, tmp string
	calls     []string
	fail      map[string]error         // call line -> error it returns
	statfs    map[string]unix.Statfs_t // path -> what Statfs reports
	files     map[string]string        // path -> what ReadFile returns
	exists    map[string]bool          // path -> what Exists reports
	umask     int
}

func (r *recorder) record(parts ...string) error {
	c := strings.Join(parts, " ")
	if r.root != "" {
		c = strings.ReplaceAll(c, r.root, "<root>")
		c = strings.ReplaceAll(c, r.tmp, "<tmp>")
	}
	r.calls = append(r.calls, c)
	return r.fail[c]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *recorder) Mount(source, target, fstype string, flags uintptr, data string) error {
	parts := []string{"mount", dash(source), target, dash(fstype), msFlags(flags)}
	if data != "" {
		parts = append(parts, data)
	}
	return r.record(parts...)
}

func (r *recorder) MountSetattr(target string, flags int, attr *unix.MountAttr) error {
	rec := ""
	if flags&unix.AT_RECURSIVE != 0 {
		rec = " recursive"
	}
	return r.record("mount_setattr", target, fmt.Sprintf("set=%#x clr=%#x%s", attr.Attr_set, attr.Attr_clr, rec))
}

func (r *recorder) Mknod(path string, mode uint32, dev uint64) error {
	kind := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b", unix.S_IFIFO: "p"}[mode&unix.S_IFMT]
	return r.record("mknod", path, fmt.Sprintf("%s %04o %d:%d", kind, mode&0o7777, unix.Major(dev), unix.Minor(dev)))
}

func (r *recorder) Lchown(path string, uid, gid int) error {
	return r.record("lchown", path, fmt.Sprintf("%d:%d", uid, gid))
}

func (r *recorder) Umask(mask int) int {
	old := r.umask
	r.umask = mask
	r.record(fmt.Sprintf("umask %04o", mask))
	return old
}

func (r *recorder) Statfs(path string, st *unix.Statfs_t) error {
	s, ok := r.statfs[path]
	if !ok {
		return unix.ENOENT
	}
	*st = s
	return nil
}

func (r *recorder) ReadFile(path string) ([]byte, error) {
	s, ok := r.files[path]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: path, Err: unix.ENOENT}
	}
	return []byte(s), nil
}

func (r *recorder) Exists(path string) bool { return r.exists[path] }

func (r *recorder) MkdirAll(path string, perm os.FileMode) error {
	return r.record("mkdir -p", path, fmt.Sprintf("%04o", perm))
}

func (r *recorder) PivotRoot(rootfs string) error { return r.record("pivot_root", rootfs) }

func (r *recorder) MoveRoot(rootfs string) error { return r.record("move_root", rootfs) }

var flagNames = [...]struct {
	flag uintptr
	name string
}{
	{unix.MS_RDONLY, "MS_RDONLY"},
	{unix.MS_NOSUID, "MS_NOSUID"},
	{unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"},
	{unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"},
	{unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_MANDLOCK, "MS_MANDLOCK"},
	{unix.MS_DIRSYNC, "MS_DIRSYNC"},
	{unix.MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"},
	{unix.MS_NOATIME, "MS_NOATIME"},
	{unix.MS_NODIRATIME, "MS_NODIRATIME"},
	{unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"},
	{unix.MS_SILENT, "MS_SILENT"},
	{unix.MS_POSIXACL, "MS_POSIXACL"},
	{unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
	{unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"},
	{unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_RELATIME, "MS_RELATIME"},
	{unix.MS_I_VERSION, "MS_I_VERSION"},
	{unix.MS_STRICTATIME, "MS_STRICTATIME"},
	{unix.MS_LAZYTIME, "MS_LAZYTIME"},
}

// msFlags names mount flags in bit order: "MS_NOSUID|MS_BIND".
func msFlags(f uintptr) string {
	if f == 0 {
		return "0"
	}
	var names []string
	for _, n := range flagNames {
		if f&n.flag != 0 {
			names = append(names, n.name)
			f &^= n.flag
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("%#x", f))
	}
	return strings.Join(names, "|")
}

// testRoot makes <tmp>/rootfs and a recorder that shows paths relative to it.
func testRoot(t *testing.T) (string, *recorder) {
	t.Helper()
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, &recorder{
		root: root, tmp: tmp, umask: 0o022,
		fail: map[string]error{}, statfs: map[string]unix.Statfs_t{},
		files: map[string]string{}, exists: map[string]bool{},
	}
}

// testSetup is the setup prepare would make, with host fallbacks in <tmp>.
func testSetup(root string, r *recorder, spec *rspec.Spec) *setup {
	s := &setup{
		sys: r, spec: spec, linux: linuxOf(spec), root: root,
		hostSys: filepath.Join(r.tmp, "sys"), hostMqueue: filepath.Join(r.tmp, "mqueue"),
		hostCgroup: filepath.Join(r.tmp, "cgroup"),
	}
	s.userns, _ = namespace(s.linux, rspec.UserNamespace)
	_, s.newNet = namespace(s.linux, rspec.NetworkNamespace)
	_, s.cgroupns = namespace(s.linux, rspec.CgroupNamespace)
	return s
}

func withNamespaces(types ...rspec.LinuxNamespaceType) *rspec.Spec {
	spec := &rspec.Spec{Root: &rspec.Root{Path: "rootfs"}, Linux: &rspec.Linux{}}
	for _, t := range types {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, rspec.LinuxNamespace{Type: t})
	}
	return spec
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	mkdirs(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func equalCalls(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
