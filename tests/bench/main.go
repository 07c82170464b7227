// Command bench times xrt against runc side by side on a busybox bundle that runs
// /bin/true, and prints medians, p90s and the xrt/runc ratio.
//
//	go run ./tests/bench -xrt bin/xrt -runc runc -n 30
//
// Two scenarios, each preceded by warm-up runs that are not measured:
//
//   - cycle: create (with --pid-file, as containerd passes it), start, wait for the
//     process to exit, delete; each phase timed on its own and the cycle as their sum.
//     The wait is on a pidfd opened between create and start, not on polling `state`,
//     so delete always removes a stopped container and never races the process.
//   - run: `run` in the foreground, which waits for the process to exit and removes the
//     container (runc has no --rm: it deletes on exit unless --keep).
//   - run-confined: the same with a Docker-like default seccomp profile
//     (specs.DefaultSeccomp: EPERM by default, ~350 syscalls allowed) and memory and pids
//     limits, the way an orchestrator runs a container.
//   - exec: `exec <id> /bin/true` into a running container (one per runtime, sleeping),
//     in the foreground, which waits for the process and exits with its code.
//
// Within a scenario the runtimes alternate run by run, and which goes first alternates
// too, so that both see the same machine noise. Each runtime keeps its state in a
// private --root inside the temporary directory; the system's state is never touched.
// Every timing includes the runtime's own fork and exec, as an orchestrator pays it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	xrtPath := flag.String("xrt", "bin/xrt", "xrt binary")
	runcPath := flag.String("runc", "runc", "runc binary")
	n := flag.Int("n", 30, "measured runs per scenario and runtime")
	warmup := flag.Int("warmup", 3, "unmeasured runs before each scenario")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox copied into the rootfs")
	// State and bundle on tmpfs by default, as runtimes keep state under /run
	// on a usual host; on a disk, journal writes dominate the timings.
	flag.StringVar(&workDir, "dir", "/dev/shm", "directory for the bundle and the private state roots")
	flag.Parse()
	// An interrupt stops the runs but still lets the private roots and bundle be cleaned.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *xrtPath, *runcPath, *busybox, *n, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var workDir string

func run(ctx context.Context, xrtPath, runcPath, busybox string, n, warmup int) error {
	if n < 1 || warmup < 0 {
		return fmt.Errorf("-n must be at least 1 and -warmup at least 0 (got %d, %d)", n, warmup)
	}
	if os.Geteuid() != 0 {
		return errors.New("creating containers needs root")
	}
	tmp, err := os.MkdirTemp(workDir, "xrt-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// nil when that runtime is not installed: its column stays empty.
	xrt := lookRuntime("xrt", xrtPath, tmp)
	runc := lookRuntime("runc", runcPath, tmp)
	if xrt == nil && runc == nil {
		return errors.New("neither xrt nor runc found")
	}
	var present []*runtimeBin
	for _, r := range []*runtimeBin{xrt, runc} {
		if r != nil {
			present = append(present, r)
			defer r.close()
		}
	}

	bundle := filepath.Join(tmp, "bundle")
	if err := makeRootfs(filepath.Join(bundle, "rootfs"), busybox); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	specBy := make([]string, len(present))
	for i, r := range present {
		specBy[i] = r.path
	}
	from, err := writeSpec(bundle, specBy...)
	if err != nil {
		return err
	}
	for _, r := range present {
		if err := r.open(tmp); err != nil {
			return err
		}
	}
	fmt.Printf("bundle: busybox /bin/true, config.json from %s spec; %d runs after %d warm-up\n", from, n, warmup)
	rootfs := filepath.Join(bundle, "rootfs")
	confinedBundle, sleepBundle := filepath.Join(tmp, "bundle-confined"), filepath.Join(tmp, "bundle-sleep")
	if err := deriveBundle(bundle, confinedBundle, rootfs, confine); err != nil {
		return fmt.Errorf("confined bundle: %w", err)
	}
	if err := deriveBundle(bundle, sleepBundle, rootfs, sleeper); err != nil {
		return fmt.Errorf("sleeping bundle: %w", err)
	}

	cycle := [4]row{{name: "create"}, {name: "start"}, {name: "exit wait"}, {name: "delete"}}
	total := row{name: "cycle"}
	err = alternate(ctx, present, n, warmup, func(r *runtimeBin, id string, keep bool) error {
		t, err := r.cycle(bundle, id)
		if err != nil {
			return err
		}
		if keep {
			var sum time.Duration
			for i := range t {
				r.add(&cycle[i], t[i])
				sum += t[i]
			}
			r.add(&total, sum)
		}
		return nil
	})
	if err != nil {
		return err
	}

	runRow, err := runScenario(ctx, present, "run", bundle, n, warmup)
	if err != nil {
		return err
	}
	confinedRow, err := runScenario(ctx, present, "run-confined", confinedBundle, n, warmup)
	if err != nil {
		return err
	}
	execRow, err := execInto(ctx, present, sleepBundle, n, warmup)
	if err != nil {
		return err
	}

	for _, r := range present {
		if left := r.leftovers(); left > 0 {
			fmt.Printf("note: %s left %d containers after run (runc deletes on exit)\n", r.name, left)
		}
	}
	rows := []row{cycle[0], cycle[1], cycle[2], cycle[3], total, runRow, confinedRow, execRow}
	fmt.Println()
	printTable(os.Stdout, rows)
	fmt.Println()
	fmt.Println(summary(rows, n))
	return nil
}

// runScenario times `run` in the foreground of bundle's container.
func runScenario(ctx context.Context, rts []*runtimeBin, name, bundle string, n, warmup int) (row, error) {
	rw := row{name: name}
	err := alternate(ctx, rts, n, warmup, func(r *runtimeBin, id string, keep bool) error {
		d, err := r.timed("run", "--bundle", bundle, id)
		if err != nil {
			_, _ = r.timed("delete", "--force", id)
			return err
		}
		if keep {
			r.add(&rw, d)
		}
		return nil
	})
	return rw, err
}

// alternate calls f warmup+n times for every runtime, interleaved run by run and with the
// order flipped on each round; keep is false for the warm-up rounds.
func alternate(ctx context.Context, rts []*runtimeBin, n, warmup int, f func(r *runtimeBin, id string, keep bool) error) error {
	for i := range warmup + n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		for j := range rts {
			r := rts[j]
			if i%2 == 1 {
				r = rts[len(rts)-1-j]
			}
			r.seq++
			if err := f(r, fmt.Sprintf("bench-%d", r.seq), i >= warmup); err != nil {
				return err
			}
		}
	}
	return nil
}

// cmdTimeout bounds every runtime command and every wait for a container to exit.
const cmdTimeout = 30 * time.Second

// runtimeBin is one runtime under test: its binary, its private state root, and a file
// that takes its stderr.
type runtimeBin struct {
	name, path, root string
	// stderr is a file, not a pipe: the container process inherits it, and a pipe would
	// make waiting for `create` last until the container exits.
	stderr *os.File
	seq    int
}

func lookRuntime(name, path, tmp string) *runtimeBin {
	p, err := exec.LookPath(path)
	if err == nil {
		p, err = filepath.Abs(p)
	}
	if err != nil {
		fmt.Printf("%s: %s not found, not benchmarked (%v)\n", name, path, err)
		return nil
	}
	return &runtimeBin{name: name, path: p, root: filepath.Join(tmp, "state-"+name)}
}

func (r *runtimeBin) open(dir string) error {
	f, err := os.Create(filepath.Join(dir, r.name+".stderr"))
	if err != nil {
		return err
	}
	r.stderr = f
	return nil
}

// close removes whatever containers are left in the private root.
func (r *runtimeBin) close() {
	if r.stderr == nil {
		return
	}
	out, _ := exec.Command(r.path, "--root", r.root, "list", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command(r.path, "--root", r.root, "delete", "--force", id).Run()
	}
	r.stderr.Close()
}

func (r *runtimeBin) leftovers() int {
	out, _ := exec.Command(r.path, "--root", r.root, "list", "-q").Output()
	return len(strings.Fields(string(out)))
}

// cycle creates, starts, waits for and deletes one container, and returns the four
// times. The wait is on a pidfd, so delete always finds the container stopped; it counts
// in the cycle because a runtime's start may return before the process has run.
func (r *runtimeBin) cycle(bundle, id string) (t [4]time.Duration, err error) {
	pidFile := filepath.Join(filepath.Dir(r.root), r.name+".pid")
	if t[0], err = r.timed("create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
		return t, err
	}
	pidfd, err := pidfdFromFile(pidFile)
	if err != nil {
		_, _ = r.timed("delete", "--force", id)
		return t, fmt.Errorf("%s create: %w", r.name, err)
	}
	defer syscall.Close(pidfd)
	if t[1], err = r.timed("start", id); err != nil {
		_, _ = r.timed("delete", "--force", id)
		return t, err
	}
	start := time.Now()
	if err := waitExit(pidfd, cmdTimeout); err != nil {
		_, _ = r.timed("delete", "--force", id)
		return t, fmt.Errorf("%s start: %w", r.name, err)
	}
	t[2] = time.Since(start)
	t[3], err = r.timed("delete", id)
	return t, err
}

// timed runs one runtime command and returns its wall time; stdin and stdout are /dev/null.
func (r *runtimeBin) timed(args ...string) (time.Duration, error) {
	if err := r.stderr.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := r.stderr.Seek(0, 0); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.path, append([]string{"--root", r.root}, args...)...)
	cmd.Stderr = r.stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(r.stderr.Name())
		return 0, fmt.Errorf("%s %s: %w: %s", r.name, strings.Join(args, " "), err, strings.TrimSpace(string(msg)))
	}
	return d, nil
}

// add records d in the row's column for this runtime.
func (r *runtimeBin) add(rw *row, d time.Duration) {
	if r.name == "xrt" {
		rw.xrt = append(rw.xrt, d)
	} else {
		rw.runc = append(rw.runc, d)
	}
}
