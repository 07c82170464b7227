package process

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/xrt-dev/xrt/specs"
)

// SetRlimits sets each of process.rlimits on the calling process. Limits are
// per process, so the thread does not matter. Setting RLIMIT_NOFILE here also
// stops Go from restoring its startup soft limit at exec.
func SetRlimits(r []rspec.POSIXRlimit) error {
	for _, l := range r {
		res, ok := specs.Rlimits[l.Type]
		if !ok {
			return fmt.Errorf("process.rlimits: unknown type %q", l.Type)
		}
		if l.Soft > l.Hard {
			return fmt.Errorf("process.rlimits %s: soft limit %d is above hard limit %d", l.Type, l.Soft, l.Hard)
		}
		// unix.Prlimit goes through Go's syscall package, which is what
		// tells the runtime to keep a new RLIMIT_NOFILE across exec.
		err := unix.Prlimit(0, res, &unix.Rlimit{Cur: l.Soft, Max: l.Hard}, nil)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EPERM) {
			var cur unix.Rlimit
			if unix.Prlimit(0, res, nil, &cur) == nil && l.Hard > cur.Max {
				return fmt.Errorf("process.rlimits %s: raising the hard limit from %d to %d needs CAP_SYS_RESOURCE: %w", l.Type, cur.Max, l.Hard, err)
			}
		}
		return fmt.Errorf("process.rlimits %s (soft %d, hard %d): %w", l.Type, l.Soft, l.Hard, err)
	}
	return nil
}

// SetOOMScoreAdj writes adj to /proc/<pid>/oom_score_adj; pid 0 means the
// calling process. A nil adj leaves the score alone. Lowering the score
// below what the process had needs CAP_SYS_RESOURCE.
func SetOOMScoreAdj(pid int, adj *int) error {
	if adj == nil {
		return nil
	}
	if *adj < -1000 || *adj > 1000 {
		return fmt.Errorf("process.oomScoreAdj %d: not between -1000 and 1000", *adj)
	}
	path := "/proc/self/oom_score_adj"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/oom_score_adj"
	}
	if err := os.WriteFile(path, strconv.AppendInt(nil, int64(*adj), 10), 0); err != nil {
		// The kernel refuses the write itself (not the open) with EACCES
		// when the new score is below the process's floor.
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "write" && errors.Is(err, unix.EACCES) {
			return fmt.Errorf("process.oomScoreAdj %d: lowering the score needs CAP_SYS_RESOURCE: %w", *adj, err)
		}
		return fmt.Errorf("process.oomScoreAdj %d: %w", *adj, err)
	}
	return nil
}
