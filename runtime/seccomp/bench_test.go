package seccomp

import (
	"runtime"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerLike is the shape of Docker's default profile: 300 syscalls allowed
// on the three x86 architectures, plus conditional rules on personality
// and clone.
func dockerLike() rspec.LinuxSeccomp {
	s := allowList(300, "personality", "clone")
	s.Syscalls = append(s.Syscalls,
		rspec.LinuxSyscall{Names: []string{"personality"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{
			{Index: 0, Value: 0, Op: rspec.OpEqualTo},
			{Index: 0, Value: 8, Op: rspec.OpEqualTo},
			{Index: 0, Value: 0x20000, Op: rspec.OpEqualTo},
			{Index: 0, Value: 0x20008, Op: rspec.OpEqualTo},
			{Index: 0, Value: 0xffffffff, Op: rspec.OpEqualTo},
		}},
		rspec.LinuxSyscall{Names: []string{"clone"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{
			{Index: 0, Value: 0x7e020000, Op: rspec.OpMaskedEqual},
		}},
	)
	return s
}

func BenchmarkBuild(b *testing.B) {
	s := dockerLike()
	for b.Loop() {
		f, err := Build(&s)
		if err != nil {
			b.Fatal(err)
		}
		f.Release()
	}
}

// BenchmarkLoad loads the filter on a fresh thread each time, which exits
// with its filter; only the Load call is timed.
func BenchmarkLoad(b *testing.B) {
	s := dockerLike()
	f, err := Build(&s)
	if err != nil {
		b.Fatal(err)
	}
	var spent time.Duration
	for b.Loop() {
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				errc <- err
				return
			}
			start := time.Now()
			_, err := f.Load()
			spent += time.Since(start)
			errc <- err
		}()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N), "load-ns/op")
	b.ReportMetric(float64(len(f.prog)), "insns")
}
