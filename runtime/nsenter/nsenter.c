// The pre-runtime half of joining namespaces. Go cannot join a user or mount
// namespace once its runtime has started threads, and a new pid or time
// namespace only applies to children, so when the container's init must do
// either, this constructor runs first, while the process is still a single
// thread. It is driven by one environment variable, _XRT_NSENTER:
//
//   fd=N new=FLAGS user=PATH mnt=PATH net=PATH ... time=monotonic:S:NS,boottime:S:NS
//
// and talks to the parent on fd N with newline-delimited JSON, the same
// framing the Go side uses: {"type":"usermap"} asks the parent to write the
// uid/gid maps of a new user namespace (the parent answers with one line),
// and {"type":"pid","pid":P} tells the parent which process is init.
// Without the variable it does nothing, so every other command pays nothing.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

struct ns_kind {
	const char *name;
	int flag;
};

// Order matters: the user namespace first, so that the joins after it are
// judged by its capabilities; the mount namespace last, because entering it
// changes how later paths would resolve (all paths are opened up front anyway).
static const struct ns_kind kinds[] = {
	{"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
	{"net", CLONE_NEWNET},   {"pid", CLONE_NEWPID},       {"cgroup", CLONE_NEWCGROUP},
	{"time", CLONE_NEWTIME}, {"mnt", CLONE_NEWNS},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int syncfd = -1;

static void fail(const char *what, const char *arg)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"error\",\"error\":\"nsenter: %s %s: %s\"}\n", what,
			 arg ? arg : "", strerror(errno));
	if (syncfd >= 0 && n > 0)
		(void)!write(syncfd, buf, (size_t)n);
	_exit(1);
}

static void send_line(const char *line)
{
	size_t len = strlen(line);
	if (write(syncfd, line, len) != (ssize_t)len)
		fail("write to parent", NULL);
}

// wait_line reads one line from the parent and fails unless it starts with want.
static void wait_line(const char *want)
{
	char buf[256];
	size_t n = 0;
	while (n < sizeof(buf) - 1) {
		ssize_t r = read(syncfd, buf + n, 1);
		if (r <= 0)
			fail("read from parent", want);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	if (strstr(buf, want) == NULL) {
		errno = EPROTO;
		fail("unexpected answer from parent, want", want);
	}
}

static void write_time_offsets(char *spec)
{
	// spec: "monotonic:S:NS,boottime:S:NS"; the kernel takes "name S NS" lines.
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open", "/proc/self/timens_offsets");
	for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
		char line[128];
		char *name = tok, *secs = strchr(tok, ':'), *nsecs;
		if (!secs || !(nsecs = strchr(secs + 1, ':'))) {
			errno = EINVAL;
			fail("time offset", tok);
		}
		*secs++ = 0;
		*nsecs++ = 0;
		int n = snprintf(line, sizeof(line), "%s %s %s", name, secs, nsecs);
		if (write(fd, line, (size_t)n) != n)
			fail("write time offset", name);
	}
	close(fd);
}

__attribute__((constructor)) static void xrt_nsenter(void)
{
	const char *env = getenv("_XRT_NSENTER");
	if (env == NULL)
		return;

	char *spec = strdup(env);
	char *paths[NKINDS] = {0};
	char *offsets = NULL;
	int newflags = 0;
	if (spec == NULL)
		_exit(1);

	for (char *save = NULL, *tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *val = strchr(tok, '=');
		if (val == NULL)
			continue;
		*val++ = 0;
		if (strcmp(tok, "fd") == 0) {
			syncfd = atoi(val);
		} else if (strcmp(tok, "new") == 0) {
			newflags = (int)strtol(val, NULL, 0);
		} else if (strcmp(tok, "offsets") == 0) {
			offsets = val;
		} else {
			for (size_t i = 0; i < NKINDS; i++)
				if (strcmp(tok, kinds[i].name) == 0)
					paths[i] = val;
		}
	}
	if (syncfd < 0) {
		errno = EBADF;
		fail("no sync fd in _XRT_NSENTER", NULL);
	}

	int fds[NKINDS];
	int joined_pid = 0;
	for (size_t i = 0; i < NKINDS; i++) {
		fds[i] = -1;
		if (paths[i] && (fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC)) < 0)
			fail("open namespace", paths[i]);
	}
	for (size_t i = 0; i < NKINDS; i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], kinds[i].flag) < 0)
			fail("setns", paths[i]);
		close(fds[i]);
		if (kinds[i].flag == CLONE_NEWPID)
			joined_pid = 1;
	}

	if (newflags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			fail("unshare", "user");
		send_line("{\"type\":\"usermap\"}\n");
		wait_line("usermap-done");
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail("become root in the new user namespace", NULL);
	}
	int rest = newflags & ~CLONE_NEWUSER;
	if (rest && unshare(rest) < 0)
		fail("unshare", "namespaces");
	if (offsets)
		write_time_offsets(offsets);

	// A joined or new pid (or time) namespace holds only our children: fork
	// once, and the child becomes init. The parent of this process reaps us.
	if (joined_pid || (newflags & (CLONE_NEWPID | CLONE_NEWTIME))) {
		pid_t child = fork();
		if (child < 0)
			fail("fork", NULL);
		if (child > 0) {
			char line[64];
			snprintf(line, sizeof(line), "{\"type\":\"pid\",\"pid\":%d}\n", child);
			send_line(line);
			_exit(0);
		}
	} else {
		char line[64];
		snprintf(line, sizeof(line), "{\"type\":\"pid\",\"pid\":%d}\n", getpid());
		send_line(line);
	}
	free(spec);
}
