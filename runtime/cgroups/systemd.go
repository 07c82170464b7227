package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// The systemd driver (--systemd-cgroup) asks systemd over D-Bus for a
// transient unit that holds the container: a scope "<prefix>-<name>.scope"
// in a slice, delegated to us. systemd creates its cgroup, moves init into
// it and applies the resources it has properties for; as runc does, the
// same resources are then written to the cgroup files too (systemd knows
// no swappiness, throttles, hugetlb, net_cls...), and every other
// operation (freeze, stats, OOM events, exec) works on the cgroup files.

// unitBus is the part of systemd's D-Bus API the driver uses; go-systemd's
// *dbus.Conn implements it, and tests give it a fake.
type unitBus interface {
	StartTransientUnitContext(ctx context.Context, name, mode string, props []sdbus.Property, ch chan<- string) (int, error)
	StopUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	SetUnitPropertiesContext(ctx context.Context, name string, runtime bool, props ...sdbus.Property) error
	ResetFailedUnitContext(ctx context.Context, name string) error
	GetManagerProperty(name string) (string, error)
	Close()
}

// systemdTimeout bounds one systemd job (start or stop of the unit).
const systemdTimeout = 30 * time.Second

// statePrefix marks a systemd cgroup in the path kept in the container's
// state: "systemd:/system.slice/xrt-ID.scope".
const statePrefix = "systemd:"

// systemdManager is a container's cgroup under systemd.
type systemdManager struct {
	unit  string // "xrt-ID.scope", or a slice's name
	slice string // the slice the unit goes in; "" after Load, where only stopping it matters
	group string // the cgroup path, "/system.slice/xrt-ID.scope"
	fs    Manager
	dial  func() (unitBus, error)
	v2    bool

	started bool
	pending *rspec.LinuxResources // given to Set before the unit exists
}

// systemdBooted tells whether PID 1 is systemd, as sd_booted(3) does.
func systemdBooted() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

func dialSystemd() (unitBus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), systemdTimeout)
	defer cancel()
	c, err := sdbus.NewWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over D-Bus: %w", err)
	}
	return c, nil
}

// NewSystemd is New for the systemd driver: cgroupsPath is
// "slice:prefix:name" (empty parts default to system.slice, "xrt" and the
// container id), or "" for system.slice:xrt:ID.
func NewSystemd(cgroupsPath, id string) (Manager, error) {
	unit, slice, group, err := parseSystemdPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	if !systemdBooted() {
		return nil, fmt.Errorf("--systemd-cgroup: no systemd on this host (PID 1 is not systemd): %w", ErrSystemd)
	}
	fs, err := fsManager(group)
	if err != nil {
		return nil, err
	}
	return &systemdManager{unit: unit, slice: slice, group: group, fs: fs, dial: dialSystemd, v2: isV2(fs)}, nil
}

// loadSystemd reopens a systemd cgroup from its state path.
func loadSystemd(p string) (Manager, error) {
	group := strings.TrimPrefix(p, statePrefix)
	if c, err := clean(group); err != nil || c != group || group == "/" || !strings.HasPrefix(group, "/") {
		return nil, fmt.Errorf("cgroup path %q: not a systemd unit's cgroup", p)
	}
	fs, err := fsManager(group)
	if err != nil {
		return nil, err
	}
	return &systemdManager{unit: path.Base(group), group: group, fs: fs, dial: dialSystemd, v2: isV2(fs), started: true}, nil
}

// fsManager is the cgroupfs manager of the unit's cgroup.
func fsManager(group string) (Manager, error) {
	return newFS(location{path: group})
}

func isV2(m Manager) bool {
	_, ok := m.(*v2)
	return ok
}

// parseSystemdPath reads "slice:prefix:name" into the unit's name, its
// slice and its cgroup path.
func parseSystemdPath(cgroupsPath, id string) (unit, slice, group string, err error) {
	parts := []string{"", "", ""}
	if cgroupsPath != "" {
		parts = strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			return "", "", "", fmt.Errorf("linux.cgroupsPath %q: the systemd driver expects slice:prefix:name", cgroupsPath)
		}
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if prefix == "" {
		prefix = "xrt"
	}
	if name == "" {
		name = id
	}
	for _, p := range []string{slice, prefix, name} {
		if p == "." || p == ".." || strings.ContainsAny(p, "/\n;") {
			return "", "", "", fmt.Errorf("linux.cgroupsPath %q: %q cannot be part of a unit name", cgroupsPath, p)
		}
	}
	if name == "" {
		return "", "", "", fmt.Errorf("linux.cgroupsPath %q: no unit name", cgroupsPath)
	}
	parent, err := expandSlice(slice)
	if err != nil {
		return "", "", "", fmt.Errorf("linux.cgroupsPath %q: %w", cgroupsPath, err)
	}
	if strings.HasSuffix(name, ".slice") {
		// A slice unit: its place follows from its own name, which must
		// then put it below the slice asked for.
		group, err := expandSlice(name)
		if err != nil {
			return "", "", "", fmt.Errorf("linux.cgroupsPath %q: %w", cgroupsPath, err)
		}
		if path.Dir(group) != parent {
			return "", "", "", fmt.Errorf("linux.cgroupsPath %q: slice %s is not a child of %s", cgroupsPath, name, slice)
		}
		return name, slice, group, nil
	}
	unit = prefix + "-" + name + ".scope"
	return unit, slice, path.Join(parent, unit), nil
}

// expandSlice turns a slice's name into its cgroup path, as systemd nests
// them: "a-b.slice" is /a.slice/a-b.slice; "-.slice" is the root.
func expandSlice(slice string) (string, error) {
	base, ok := strings.CutSuffix(slice, ".slice")
	if !ok || strings.Contains(slice, "/") {
		return "", fmt.Errorf("slice %q: not a slice unit name (such as system.slice or a-b.slice)", slice)
	}
	if base == "-" {
		return "/", nil
	}
	if base == "" || strings.HasPrefix(base, "-") || strings.HasSuffix(base, "-") || strings.Contains(base, "--") {
		return "", fmt.Errorf("slice %q: invalid name", slice)
	}
	var b strings.Builder
	prefix := ""
	for _, part := range strings.Split(base, "-") {
		b.WriteString("/" + prefix + part + ".slice")
		prefix += part + "-"
	}
	return b.String(), nil
}

func (m *systemdManager) Path() string { return statePrefix + m.group }

// Create makes nothing yet: systemd creates the cgroup when the unit
// starts, and a scope cannot start without a process (see AddProc).
func (m *systemdManager) Create() error { return nil }

// Placement returns nothing, so that the caller hands init to AddProc.
func (m *systemdManager) Placement() (string, []string) { return "", nil }

func (m *systemdManager) Apply(pid int) error { return m.AddProc(pid) }

// AddProc starts the unit with pid in it the first time, then writes the
// resources Set was given; later calls (exec) join the cgroup directly.
func (m *systemdManager) AddProc(pid int) error {
	if m.started {
		return m.fs.AddProc(pid)
	}
	if err := m.start(pid); err != nil {
		return err
	}
	m.started = true
	// systemd made the directories of the hierarchies it manages; the
	// cgroupfs manager makes the rest (on v1) and joins them.
	if err := m.fs.Apply(pid); err != nil {
		return err
	}
	if m.pending != nil {
		r := m.pending
		m.pending = nil
		return m.fs.Set(r)
	}
	return nil
}

func (m *systemdManager) start(pid int) error {
	bus, err := m.dial()
	if err != nil {
		return err
	}
	defer bus.Close()
	props := []sdbus.Property{
		sdbus.PropDescription("xrt container " + m.unit),
		newProp("Delegate", true),
		newProp("PIDs", []uint32{uint32(pid)}),
		newProp("DefaultDependencies", false),
		newProp("MemoryAccounting", true),
		newProp("CPUAccounting", true),
		newProp("TasksAccounting", true),
	}
	if m.v2 {
		props = append(props, newProp("IOAccounting", true))
	} else {
		props = append(props, newProp("BlockIOAccounting", true))
	}
	if m.slice != "" {
		props = append(props, sdbus.PropSlice(m.slice))
	}
	if m.pending != nil {
		props = append(props, unitProperties(m.pending, m.v2, systemdVersion(bus))...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), systemdTimeout)
	defer cancel()
	done := make(chan string, 1)
	if _, err := bus.StartTransientUnitContext(ctx, m.unit, "replace", props, done); err != nil {
		var de dbus.Error
		if errors.As(err, &de) && de.Name == "org.freedesktop.systemd1.UnitExists" {
			return fmt.Errorf("systemd unit %s already exists (another container with this cgroupsPath?)", m.unit)
		}
		return fmt.Errorf("start systemd unit %s: %w", m.unit, err)
	}
	return waitJob(ctx, done, "start", m.unit)
}

func waitJob(ctx context.Context, done <-chan string, verb, unit string) error {
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("%s systemd unit %s: job %s", verb, unit, r)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s systemd unit %s: %w", verb, unit, ctx.Err())
	}
}

// Set records the resources until the unit starts; afterwards it changes
// the unit's properties and then writes the cgroup files.
func (m *systemdManager) Set(r *rspec.LinuxResources) error {
	if r == nil {
		return nil
	}
	r = withoutUnset(r)
	if err := Validate(r); err != nil {
		return err
	}
	if !m.started {
		m.pending = r
		return nil
	}
	bus, err := m.dial()
	if err != nil {
		return err
	}
	defer bus.Close()
	if props := unitProperties(r, m.v2, systemdVersion(bus)); len(props) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), systemdTimeout)
		defer cancel()
		if err := bus.SetUnitPropertiesContext(ctx, m.unit, true, props...); err != nil {
			return fmt.Errorf("set properties of systemd unit %s: %w", m.unit, err)
		}
	}
	return m.fs.Set(r)
}

// Delete stops the unit and removes what systemd leaves (the v1
// directories it does not manage).
func (m *systemdManager) Delete() error {
	bus, err := m.dial()
	if err != nil {
		return err
	}
	defer bus.Close()
	ctx, cancel := context.WithTimeout(context.Background(), systemdTimeout)
	defer cancel()
	done := make(chan string, 1)
	_, err = bus.StopUnitContext(ctx, m.unit, "replace", done)
	var de dbus.Error
	switch {
	case errors.As(err, &de) && de.Name == "org.freedesktop.systemd1.NoSuchUnit":
	case err != nil:
		return fmt.Errorf("stop systemd unit %s: %w", m.unit, err)
	default:
		if err := waitJob(ctx, done, "stop", m.unit); err != nil {
			return err
		}
	}
	// A unit that failed stays loaded until reset; its name must be free
	// for the next container.
	_ = bus.ResetFailedUnitContext(ctx, m.unit)
	return m.fs.Delete()
}

func (m *systemdManager) Procs() ([]int, error)      { return m.fs.Procs() }
func (m *systemdManager) Freeze() error              { return m.fs.Freeze() }
func (m *systemdManager) Thaw() error                { return m.fs.Thaw() }
func (m *systemdManager) Paused() (bool, error)      { return m.fs.Paused() }
func (m *systemdManager) Stats() (*Stats, error)     { return m.fs.Stats() }
func (m *systemdManager) OOM() (*OOMNotifier, error) { return m.fs.OOM() }
func (m *systemdManager) OOMKills() (uint64, error)  { return m.fs.OOMKills() }
