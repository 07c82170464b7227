package cgroups

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// v2 is a container's cgroup on a cgroup v2 host.
type v2 struct {
	mount string // where the v2 hierarchy is mounted
	group string // the cgroup below it, "/a/b"
}

func newV2(mount string, loc location) (*v2, error) {
	p, ok := loc.in(unifiedName)
	if !ok {
		return nil, errors.New("cgroup v2: our own cgroup is not in /proc/self/cgroup")
	}
	return &v2{mount: mount, group: p}, nil
}

func (m *v2) dir() string  { return m.mount + m.group }
func (m *v2) Path() string { return m.group }

func (m *v2) manager() (*cgroup2.Manager, error) {
	mgr, err := cgroup2.Load(m.group, cgroup2.WithMountpoint(m.mount))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", m.group, err)
	}
	return mgr, nil
}

func (m *v2) Create() error {
	if _, err := cgroup2.NewManager(m.mount, m.group, &cgroup2.Resources{}); err != nil {
		return fmt.Errorf("create cgroup %s: %w", m.dir(), err)
	}
	enableControllers(m.mount, m.group)
	return nil
}

func (m *v2) Apply(pid int) error {
	if err := m.Create(); err != nil {
		return err
	}
	return m.AddProc(pid)
}

func (m *v2) Placement() (cloneDir string, tasks []string) { return m.dir(), nil }

// enableControllers makes every controller of the root available to the
// new cgroup by enabling it in each ancestor's cgroup.subtree_control. A
// controller that cannot be enabled is left out: Set reports it if a
// resource needs it.
func enableControllers(mount, group string) {
	avail, err := readFile(mount, "cgroup.controllers")
	if err != nil || avail == "" {
		return
	}
	ctrls := strings.Fields(avail)
	all := "+" + strings.Join(ctrls, " +")
	parts := strings.Split(strings.Trim(group, "/"), "/")
	dir := mount
	for _, part := range parts[:len(parts)-1] {
		enableIn(dir, all, ctrls)
		dir += "/" + part
	}
	enableIn(dir, all, ctrls) // the parent
}

func enableIn(dir, all string, ctrls []string) {
	if writeFile(dir, "cgroup.subtree_control", all) == nil {
		return
	}
	for _, c := range ctrls { // one failed, so the kernel took none
		_ = writeFile(dir, "cgroup.subtree_control", "+"+c)
	}
}

func (m *v2) AddProc(pid int) error {
	if err := writeFile(m.dir(), "cgroup.procs", fmt.Sprint(pid)); err != nil {
		return fmt.Errorf("move pid %d into cgroup: %w", pid, err)
	}
	return nil
}

func (m *v2) Set(r *rspec.LinuxResources) error {
	if r == nil {
		return nil
	}
	r = withoutUnset(r)
	if err := Validate(r); err != nil {
		return err
	}
	dir := m.dir()
	plan, err := planV2(r, func() string {
		s, _ := readFile(dir, "cpu.max")
		q, _, _ := strings.Cut(s, " ")
		if q == "" {
			return "max"
		}
		return q
	})
	if err != nil {
		return err
	}
	avail, err := readFile(dir, "cgroup.controllers")
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", dir, err)
	}
	have := strings.Fields(avail)
	for _, n := range plan.needs {
		if !slices.Contains(have, n.controller) {
			return fmt.Errorf("linux.resources.%s: the %s controller is not available in cgroup %s: %w", n.field, n.controller, dir, ErrNotSupported)
		}
	}
	if mem := r.Memory; mem != nil && mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
		if err := checkUsage(dir, "memory.current", *mem.Limit); err != nil {
			return err
		}
	}
	mgr, err := m.manager()
	if err != nil {
		return err
	}
	if err := mgr.Update(&plan.res); err != nil {
		return fmt.Errorf("linux.resources: cgroup %s: %w", dir, err)
	}
	for _, f := range plan.files {
		if f.alt != nil && !exists(dir+"/"+f.name) {
			f = *f.alt
		}
		if f.optional && !exists(dir+"/"+f.name) {
			continue
		}
		if err := writeFile(dir, f.name, f.value); err != nil {
			return fmt.Errorf("linux.resources.%s: %w", f.field, err)
		}
	}
	if len(r.Devices) > 0 {
		return setDeviceFilter(dir, r.Devices)
	}
	return nil
}

func (m *v2) Procs() ([]int, error) { return readProcs(m.dir(), nil) }

func (m *v2) Freeze() error { return m.freeze("1") }
func (m *v2) Thaw() error   { return m.freeze("0") }

// freeze writes cgroup.freeze and waits for cgroup.events to report the
// state reached: the kernel stops the processes one by one.
func (m *v2) freeze(state string) error {
	dir := m.dir()
	if err := writeFile(dir, "cgroup.freeze", state); err != nil {
		return err
	}
	delay := 100 * time.Microsecond
	for range 20 { // about 2s in all
		if frozen, ok := readFlatKeyed(dir, "cgroup.events")["frozen"]; !ok || fmt.Sprint(frozen) == state {
			return nil
		}
		time.Sleep(delay)
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
	return fmt.Errorf("cgroup %s: processes did not reach cgroup.freeze=%s", dir, state)
}

func (m *v2) Paused() (bool, error) {
	ev := readFlatKeyed(m.dir(), "cgroup.events")
	return ev["frozen"] == 1, nil
}

func (m *v2) Stats() (*Stats, error) {
	mgr, err := m.manager()
	if err != nil {
		return nil, err
	}
	metrics, err := mgr.Stat()
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", m.dir(), err)
	}
	s := statsV2(metrics)
	s.Memory.Raw = readFlatKeyed(m.dir(), "memory.stat")
	return s, nil
}

func (m *v2) OOM() (*OOMNotifier, error) {
	if !exists(m.dir() + "/memory.events") {
		return nil, fmt.Errorf("OOM events: no memory controller in cgroup %s: %w", m.dir(), ErrNotSupported)
	}
	return oomV2(m.dir())
}

func (m *v2) OOMKills() (uint64, error) {
	return readFlatKeyed(m.dir(), "memory.events")["oom_kill"], nil
}

func (m *v2) Delete() error {
	return removeTree(m.dir())
}
