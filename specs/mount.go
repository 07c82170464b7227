package specs

import (
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// MountFlags is the parsed form of a mount's options.
type MountFlags struct {
	// Flags are the MS_* flags for mount(2).
	Flags uintptr
	// ClearFlags are the MS_* flags an option turned off explicitly ("rw",
	// "suid"): a bind mount keeps its source's flags unless it is remounted
	// with these cleared.
	ClearFlags uintptr
	// Propagation holds MS_SHARED, MS_PRIVATE, MS_SLAVE or MS_UNBINDABLE,
	// each possibly with MS_REC, in the order given; each needs its own
	// mount(2) call after the mount.
	Propagation []uintptr
	// RecAttrSet and RecAttrClr are MOUNT_ATTR_* for mount_setattr(2) with
	// AT_RECURSIVE, from the "r"-prefixed options ("rro", "rnosuid").
	RecAttrSet, RecAttrClr uint64
	// Data are the options the file system parses itself; the caller joins
	// them with ",".
	Data []string
	// Recursive is set by "rbind".
	Recursive bool
	// IDMap is set by "idmap" and "ridmap"; RecursiveIDMap only by "ridmap".
	IDMap, RecursiveIDMap bool
	// TmpCopyUp is set by "tmpcopyup": copy the directory's contents into a
	// fresh tmpfs mounted over it.
	TmpCopyUp bool
}

// IsBind reports whether the options ask for a bind mount.
func (m *MountFlags) IsBind() bool { return m.Flags&unix.MS_BIND != 0 }

type flagOption struct {
	clear bool
	flag  uintptr
}

// mountFlagOptions are the options that map to MS_* flags.
var mountFlagOptions = map[string]flagOption{
	"acl":           {false, unix.MS_POSIXACL},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noacl":         {true, unix.MS_POSIXACL},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOptions = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// Propagation returns the mount flags of a propagation name such as
// "rslave", as used in mount options and linux.rootfsPropagation.
func Propagation(name string) (uintptr, bool) {
	p, ok := propagationOptions[name]
	return p, ok
}

type attrOption struct {
	clear bool
	attr  uint64
}

// recAttrOptions are the recursive attributes other than access time.
var recAttrOptions = map[string]attrOption{
	"rro":          {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":          {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":      {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":        {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":       {false, unix.MOUNT_ATTR_NODEV},
	"rdev":         {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":      {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":        {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":  {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":    {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":   {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// recAtimeOptions pick one access-time mode. The modes are an enum, not
// bits: mount_setattr(2) needs all of MOUNT_ATTR__ATIME in attr_clr and
// the chosen mode in attr_set, so "clearing" one mode means choosing another.
var recAtimeOptions = map[string]uint64{
	"rnoatime":       unix.MOUNT_ATTR_NOATIME,
	"ratime":         unix.MOUNT_ATTR_RELATIME,
	"rrelatime":      unix.MOUNT_ATTR_RELATIME,
	"rnostrictatime": unix.MOUNT_ATTR_RELATIME,
	"rstrictatime":   unix.MOUNT_ATTR_STRICTATIME,
	"rnorelatime":    unix.MOUNT_ATTR_STRICTATIME,
}

// ParseMountOptions splits a mount's options into flags, propagation,
// recursive attributes and file-system data. Later options override
// earlier ones ("ro,rw" is read-write). Options it does not know are data.
func ParseMountOptions(opts []string) MountFlags {
	var m MountFlags
	for _, o := range opts {
		if f, ok := mountFlagOptions[o]; ok {
			if f.clear {
				m.Flags &^= f.flag
				m.ClearFlags |= f.flag
			} else {
				m.Flags |= f.flag
				m.ClearFlags &^= f.flag
			}
			if o == "rbind" {
				m.Recursive = true
			}
			continue
		}
		if p, ok := propagationOptions[o]; ok {
			m.Propagation = append(m.Propagation, p)
			continue
		}
		if a, ok := recAttrOptions[o]; ok {
			if a.clear {
				m.RecAttrSet &^= a.attr
				m.RecAttrClr |= a.attr
			} else {
				m.RecAttrSet |= a.attr
				m.RecAttrClr &^= a.attr
			}
			continue
		}
		if mode, ok := recAtimeOptions[o]; ok {
			m.RecAttrSet = m.RecAttrSet&^unix.MOUNT_ATTR__ATIME | mode
			m.RecAttrClr |= unix.MOUNT_ATTR__ATIME
			continue
		}
		switch o {
		case "idmap":
			m.IDMap = true
		case "ridmap":
			m.IDMap, m.RecursiveIDMap = true, true
		case "tmpcopyup":
			m.TmpCopyUp = true
		case "":
			// An empty option carries nothing; passing it on would make
			// the data string read ",,".
		default:
			m.Data = append(m.Data, o)
		}
	}
	return m
}

// MountOptionNames returns every option ParseMountOptions recognizes,
// sorted; others are passed to the file system as data.
func MountOptionNames() []string {
	names := make([]string, 0, len(mountFlagOptions)+len(propagationOptions)+len(recAttrOptions)+len(recAtimeOptions)+3)
	for n := range mountFlagOptions {
		names = append(names, n)
	}
	for n := range propagationOptions {
		names = append(names, n)
	}
	for n := range recAttrOptions {
		names = append(names, n)
	}
	for n := range recAtimeOptions {
		names = append(names, n)
	}
	names = append(names, "idmap", "ridmap", "tmpcopyup")
	slices.Sort(names)
	return names
}

// DataString returns Data joined with "," as mount(2) expects it.
func (m *MountFlags) DataString() string { return strings.Join(m.Data, ",") }
