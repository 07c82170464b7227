package containers

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/xrt-dev/xrt/bundle"
	"github.com/xrt-dev/xrt/manager/api/types"
	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/volumes"
)

// Mount types, as Docker names them.
const (
	mountBind   = "bind"
	mountVolume = "volume"
	mountTmpfs  = "tmpfs"
)

// optNoCopy in a volume's MountPoint.Options skips the copy-up.
const optNoCopy = "nocopy"

var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

var propagations = map[string]bool{
	"private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true, "rslave": true,
}

// parseMounts reads -v (Binds), --mount (Mounts), --tmpfs and the image's
// VOLUMEs into the container's mount points, checking each as Docker
// does. The second result holds, for each mount point, the --mount volume
// options (labels, driver options) a new volume is created with. It
// makes nothing: see makeBindSources.
func parseMounts(cfg *types.ContainerConfig, hc *types.HostConfig) ([]MountPoint, []*types.VolumeOptions, error) {
	var mps []MountPoint
	var opts []*types.VolumeOptions
	seen := map[string]bool{}
	add := func(mp MountPoint, o *types.VolumeOptions) error {
		mp.Destination = path.Clean(mp.Destination)
		if seen[mp.Destination] {
			return errdefs.Invalid("Duplicate mount point: %s", mp.Destination)
		}
		seen[mp.Destination] = true
		mps = append(mps, mp)
		opts = append(opts, o)
		return nil
	}
	for _, spec := range hc.Binds {
		mp, err := parseBind(spec)
		if err != nil {
			return nil, nil, err
		}
		if err := add(mp, nil); err != nil {
			return nil, nil, err
		}
	}
	for _, mt := range hc.Mounts {
		mp, err := parseMount(mt)
		if err != nil {
			return nil, nil, err
		}
		if err := add(mp, mt.VolumeOptions); err != nil {
			return nil, nil, err
		}
	}
	dsts := make([]string, 0, len(hc.Tmpfs))
	for dst := range hc.Tmpfs {
		dsts = append(dsts, dst)
	}
	sort.Strings(dsts)
	for _, dst := range dsts {
		if err := checkDestination(dst, dst); err != nil {
			return nil, nil, err
		}
		mp := MountPoint{Type: mountTmpfs, Destination: dst, RW: true}
		for _, o := range strings.Split(hc.Tmpfs[dst], ",") {
			switch o {
			case "":
			case "ro":
				mp.RW = false
			case "rw":
			default:
				mp.Options = append(mp.Options, o)
			}
		}
		if err := add(mp, nil); err != nil {
			return nil, nil, err
		}
	}
	vols := make([]string, 0, len(cfg.Volumes))
	for dst := range cfg.Volumes {
		vols = append(vols, dst)
	}
	sort.Strings(vols)
	for _, dst := range vols {
		// Docker takes a relative VOLUME (`VOLUME ["a"]`) from the root.
		dst = path.Join("/", dst)
		if seen[dst] {
			continue // the image's VOLUME is covered by a mount of the run
		}
		add(MountPoint{Type: mountVolume, Destination: dst, RW: true, Anonymous: true}, nil)
	}
	return mps, opts, nil
}

// makeBindSources creates the host directories of -v binds that do not
// exist, as Docker does (--mount binds must exist). undo removes the
// directories it made, for a create that fails later.
func makeBindSources(binds []string) (undo func(), err error) {
	var made []string // deepest first within each source
	undo = func() {
		for _, d := range made {
			os.Remove(d)
		}
	}
	for _, spec := range binds {
		mp, err := parseBind(spec)
		if err != nil || mp.Type != mountBind {
			continue // parseMounts has refused a bad one already
		}
		var missing []string
		for d := mp.Source; d != "/" && d != "."; d = filepath.Dir(d) {
			if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
				break
			}
			missing = append(missing, d)
		}
		if err := os.MkdirAll(mp.Source, 0o755); err != nil {
			undo()
			return func() {}, errdefs.Invalid("error while creating mount source path '%s': %v", mp.Source, err)
		}
		made = append(made, missing...)
	}
	return undo, nil
}

// parseBind reads one -v: "dst" (an anonymous volume), "src:dst" or
// "src:dst:mode", where src is a host path or a volume name.
func parseBind(spec string) (MountPoint, error) {
	invalid := errdefs.Invalid("invalid volume specification: '%s'", spec)
	parts := strings.Split(spec, ":")
	var src, dst, mode string
	switch len(parts) {
	case 1:
		dst = parts[0]
	case 2:
		if validMode(parts[1]) {
			return MountPoint{}, invalid
		}
		src, dst = parts[0], parts[1]
	case 3:
		src, dst, mode = parts[0], parts[1], parts[2]
	default:
		return MountPoint{}, invalid
	}
	if dst == "" || (len(parts) > 1 && src == "") {
		return MountPoint{}, invalid
	}
	if err := checkDestination(dst, spec); err != nil {
		return MountPoint{}, err
	}
	mp := MountPoint{Type: mountVolume, Destination: dst, RW: true, Anonymous: src == ""}
	switch {
	case path.IsAbs(src):
		mp.Type, mp.Source = mountBind, path.Clean(src)
	case src != "":
		if !volumeName.MatchString(src) {
			return MountPoint{}, errdefs.Invalid("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", src, src)
		}
		mp.Name = src
	}
	if mode == "" {
		return mp, nil
	}
	for _, o := range strings.Split(mode, ",") {
		switch {
		case o == "ro":
			mp.RW = false
		case o == "rw", o == "z", o == "Z":
		case o == optNoCopy && mp.Type == mountVolume:
			mp.Options = append(mp.Options, optNoCopy)
		case propagations[o] && mp.Type == mountBind:
			mp.Propagation = o
		default:
			return MountPoint{}, errdefs.Invalid("invalid mode: %s", mode)
		}
	}
	return mp, nil
}

// validMode reports whether s reads as a -v mode ("ro", "rw,z"...).
func validMode(s string) bool {
	for _, o := range strings.Split(s, ",") {
		if o != "ro" && o != "rw" && o != "z" && o != "Z" && o != optNoCopy && !propagations[o] {
			return false
		}
	}
	return true
}

func checkDestination(dst, spec string) error {
	if !path.IsAbs(dst) {
		return errdefs.Invalid("invalid volume specification: '%s': invalid mount path: '%s' mount path must be absolute", spec, dst)
	}
	if path.Clean(dst) == "/" {
		return errdefs.Invalid("invalid volume specification: '%s': invalid mount config: destination can't be '/'", spec)
	}
	return nil
}

// parseMount reads one --mount.
func parseMount(mt types.Mount) (MountPoint, error) {
	bad := func(format string, args ...any) error {
		return errdefs.Invalid("invalid mount config for type %q: %s", mt.Type, fmt.Sprintf(format, args...))
	}
	if mt.Target == "" {
		return MountPoint{}, bad("field Target must not be empty")
	}
	if !path.IsAbs(mt.Target) {
		return MountPoint{}, bad("invalid mount path: '%s' mount path must be absolute", mt.Target)
	}
	if path.Clean(mt.Target) == "/" {
		return MountPoint{}, bad("destination can't be '/'")
	}
	mp := MountPoint{Type: mt.Type, Destination: mt.Target, RW: !mt.ReadOnly}
	switch mt.Type {
	case mountBind:
		if mt.VolumeOptions != nil || mt.TmpfsOptions != nil {
			return MountPoint{}, bad("only BindOptions may be given")
		}
		if mt.Source == "" {
			return MountPoint{}, bad("field Source must not be empty")
		}
		if !path.IsAbs(mt.Source) {
			return MountPoint{}, bad("invalid mount path: '%s' mount path must be absolute", mt.Source)
		}
		if _, err := os.Stat(mt.Source); err != nil {
			return MountPoint{}, bad("bind source path does not exist: %s", mt.Source)
		}
		mp.Source = path.Clean(mt.Source)
		if b := mt.BindOptions; b != nil {
			if b.Propagation != "" && !propagations[b.Propagation] {
				return MountPoint{}, bad("invalid propagation mode: %s", b.Propagation)
			}
			mp.Propagation = b.Propagation
			if b.NonRecursive {
				mp.Options = append(mp.Options, "bind")
			}
		}
	case mountVolume:
		if mt.BindOptions != nil || mt.TmpfsOptions != nil {
			return MountPoint{}, bad("only VolumeOptions may be given")
		}
		if mt.Source != "" && !volumeName.MatchString(mt.Source) {
			return MountPoint{}, bad("invalid volume name %q: only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed", mt.Source)
		}
		mp.Name, mp.Anonymous = mt.Source, mt.Source == ""
		if mt.VolumeOptions != nil && mt.VolumeOptions.NoCopy {
			mp.Options = append(mp.Options, optNoCopy)
		}
	case mountTmpfs:
		if mt.Source != "" {
			return MountPoint{}, bad("Source must not be specified")
		}
		if mt.BindOptions != nil || mt.VolumeOptions != nil {
			return MountPoint{}, bad("only TmpfsOptions may be given")
		}
		if t := mt.TmpfsOptions; t != nil {
			if t.SizeBytes < 0 {
				return MountPoint{}, bad("invalid tmpfs size %d", t.SizeBytes)
			}
			if t.SizeBytes > 0 {
				mp.Options = append(mp.Options, "size="+strconv.FormatInt(t.SizeBytes, 10))
			}
			if t.Mode != 0 {
				mp.Options = append(mp.Options, fmt.Sprintf("mode=%o", t.Mode&0o7777))
			}
		}
	default:
		return MountPoint{}, bad("mount type unknown")
	}
	return mp, nil
}

// setupMounts mounts the container's volumes (copying the image's files
// up into an empty volume, unless nocopy) and returns what the bundle
// binds. undo releases the volumes; it is set even on error.
func (m *Manager) setupMounts(id string, mps []MountPoint, rootfs string) (out []bundle.Mount, undo func(), err error) {
	var mounted []string
	undo = func() {
		for _, name := range mounted {
			m.cfg.Volumes.Unmount(name, id)
		}
	}
	for _, mp := range mps {
		bm := bundle.Mount{Type: mp.Type, Source: mp.Source, Destination: mp.Destination, ReadOnly: !mp.RW}
		switch mp.Type {
		case mountVolume:
			host, err := m.cfg.Volumes.Mount(mp.Name, id)
			if err != nil {
				return nil, undo, err
			}
			mounted = append(mounted, mp.Name)
			bm.Source = host
			if !hasOption(mp.Options, optNoCopy) {
				src, err := securejoin.SecureJoin(rootfs, mp.Destination)
				if err != nil {
					return nil, undo, err
				}
				if err := volumes.CopyUp(src, host); err != nil {
					return nil, undo, fmt.Errorf("copying %s into volume %s: %w", mp.Destination, mp.Name, err)
				}
			}
		case mountBind:
			if mp.Propagation != "" {
				bm.Options = append(bm.Options, mp.Propagation)
			}
			bm.Options = append(bm.Options, mp.Options...)
		case mountTmpfs:
			bm.Options = mp.Options
		}
		out = append(out, bm)
	}
	// Parents before children: /data before /data/logs.
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(path.Clean(out[i].Destination), "/") < strings.Count(path.Clean(out[j].Destination), "/")
	})
	return out, undo, nil
}

// releaseVolumes undoes setupMounts' volume mounts of a run that ended.
func (m *Manager) releaseVolumes(id string, mps []MountPoint) {
	for _, mp := range mps {
		if mp.Type == mountVolume && mp.Name != "" {
			if err := m.cfg.Volumes.Unmount(mp.Name, id); err != nil {
				m.log.Warn("releasing volume", "container", id, "volume", mp.Name, "err", err)
			}
		}
	}
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}
