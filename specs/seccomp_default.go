package specs

import (
	"runtime"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultSeccomp returns a seccomp profile in the spirit of Docker's
// default: every syscall fails with EPERM unless it is on an allow list of
// about 350 that ordinary programs use; clone may not create namespaces,
// clone3 reports ENOSYS (so that C libraries fall back to clone, whose
// flags a filter can see), and personality takes only the harmless
// personas. It is meant for the default capability set (Default): syscalls
// that need a capability the process lacks are left off. The
// architectures are the host's native ones and their compat modes.
func DefaultSeccomp() *rspec.LinuxSeccomp {
	eperm := uint(1)
	enosys := uint(38)
	s := &rspec.LinuxSeccomp{
		DefaultAction:   rspec.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures:   nativeArchs(runtime.GOARCH),
		Syscalls: []rspec.LinuxSyscall{
			{Names: append([]string(nil), defaultAllowed...), Action: rspec.ActAllow},
			{Names: []string{"personality"}, Action: rspec.ActAllow,
				Args: []rspec.LinuxSeccompArg{{Index: 0, Value: 0x0, Op: rspec.OpEqualTo}}},
			{Names: []string{"personality"}, Action: rspec.ActAllow,
				Args: []rspec.LinuxSeccompArg{{Index: 0, Value: 0x8, Op: rspec.OpEqualTo}}}, // PER_LINUX32
			{Names: []string{"personality"}, Action: rspec.ActAllow,
				Args: []rspec.LinuxSeccompArg{{Index: 0, Value: 0x20000, Op: rspec.OpEqualTo}}}, // UNAME26
			{Names: []string{"personality"}, Action: rspec.ActAllow,
				Args: []rspec.LinuxSeccompArg{{Index: 0, Value: 0x20008, Op: rspec.OpEqualTo}}},
			{Names: []string{"personality"}, Action: rspec.ActAllow,
				Args: []rspec.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: rspec.OpEqualTo}}}, // query
			// No CLONE_NEW* flag (they are all in this mask).
			{Names: []string{"clone"}, Action: rspec.ActAllow,
				Args: []rspec.LinuxSeccompArg{{Index: cloneFlagsArg(runtime.GOARCH), Value: 0x7E020000, ValueTwo: 0, Op: rspec.OpMaskedEqual}}},
			{Names: []string{"clone3"}, Action: rspec.ActErrno, ErrnoRet: &enosys},
		},
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		s.Syscalls[0].Names = append(s.Syscalls[0].Names, "arch_prctl", "modify_ldt")
	case "arm", "arm64":
		s.Syscalls[0].Names = append(s.Syscalls[0].Names, "arm_fadvise64_64", "arm_sync_file_range",
			"sync_file_range2", "breakpoint", "cacheflush", "set_tls")
	}
	return s
}

// cloneFlagsArg is the index of clone's flags: the second argument on
// s390, where the stack comes first.
func cloneFlagsArg(goarch string) uint {
	if goarch == "s390x" {
		return 1
	}
	return 0
}

func nativeArchs(goarch string) []rspec.Arch {
	switch goarch {
	case "amd64":
		return []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32}
	case "386":
		return []rspec.Arch{rspec.ArchX86}
	case "arm64":
		return []rspec.Arch{rspec.ArchAARCH64, rspec.ArchARM}
	case "arm":
		return []rspec.Arch{rspec.ArchARM}
	case "ppc64le":
		return []rspec.Arch{rspec.ArchPPC64LE}
	case "s390x":
		return []rspec.Arch{rspec.ArchS390X, rspec.ArchS390}
	case "riscv64":
		return []rspec.Arch{rspec.ArchRISCV64}
	}
	return nil // the native architecture only
}

// defaultAllowed is the allow list of DefaultSeccomp, by family. Names a
// kernel or an architecture lacks are skipped when the filter is built.
var defaultAllowed = []string{
	// files and directories
	"access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat",
	"dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
	"fdatasync", "flock", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
	"ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "lchown", "lchown32", "link",
	"linkat", "_llseek", "lseek", "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat",
	"name_to_handle_at", "newfstatat", "open", "openat", "openat2", "pipe", "pipe2", "pread64", "preadv", "preadv2",
	"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "rename",
	"renameat", "renameat2", "rmdir", "sendfile", "sendfile64", "splice", "stat", "stat64", "statfs",
	"statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate",
	"truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
	"vmsplice", "write", "writev", "cachestat",
	// extended attributes
	"fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "lgetxattr", "listxattr",
	"llistxattr", "lremovexattr", "lsetxattr", "removexattr", "setxattr",
	// polling, events, notifications
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
	"epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark", "inotify_add_watch",
	"inotify_init", "inotify_init1", "inotify_rm_watch", "_newselect", "poll", "ppoll", "ppoll_time64",
	"pselect6", "pselect6_time64", "select", "signalfd", "signalfd4", "timerfd_create",
	"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
	// asynchronous I/O
	"io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
	"io_submit", "ioprio_get", "ioprio_set",
	// memory
	"brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
	"mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock",
	"munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
	"process_mrelease",
	// processes, threads, credentials
	"capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "getcpu", "getegid",
	"getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getpgid",
	"getpgrp", "getpid", "getppid", "getpriority", "getresgid", "getresgid32", "getresuid",
	"getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "get_thread_area", "gettid",
	"getuid", "getuid32", "kill", "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64",
	"restart_syscall", "rseq", "sched_getaffinity", "sched_getattr", "sched_getparam",
	"sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
	"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
	"sched_setscheduler", "sched_yield", "seccomp", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
	"setgid", "setgid32", "setgroups", "setgroups32", "setpgid", "setpriority", "setregid",
	"setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
	"setrlimit", "set_robust_list", "setsid", "set_thread_area", "set_tid_address", "setuid",
	"setuid32", "tgkill", "tkill", "ugetrlimit", "vfork", "wait4", "waitid", "waitpid",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "ptrace",
	"process_vm_readv", "process_vm_writev",
	// signals
	"alarm", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
	"sigaltstack", "sigprocmask", "sigreturn",
	// time
	"clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep", "setitimer", "time",
	"timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
	"timer_settime", "timer_settime64", "times", "adjtimex", "clock_adjtime", "clock_adjtime64",
	// futexes
	"futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake",
	// sockets
	"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
	"recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg",
	"sendto", "setsockopt", "shutdown", "socket", "socketcall", "socketpair",
	// System V and POSIX IPC
	"ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
	"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
	"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",
	// the rest
	"getrandom", "ioctl", "sysinfo", "uname",
}
