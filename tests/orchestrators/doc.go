// Package orchestrators runs xrt under the orchestrators that call runc:
// containerd (`ctr run --runc-binary`) and Docker (`dockerd --add-runtime`).
// Each test starts its own daemon with private state (a temp directory for
// roots, state, sockets and config), loads a busybox image it builds from
// Debian's busybox-static, runs, execs into, stops and removes a container,
// checks that xrt (and not runc) did the work, and leaves nothing behind:
// daemons, shims, container processes, mounts, cgroups and temp files are
// removed even when a step fails.
//
//	make build && XRT_BINARY=$PWD/bin/xrt go test -count=1 -v ./tests/orchestrators/
//
// The tests skip when XRT_BINARY is unset, when not run as root, or when
// the Debian packages containerd or docker.io are not installed.
// XRT_ORCH_TIMING=N adds a side-by-side timing of N runs with xrt and runc.
//
// The package's non-test code builds the image archive the tests load.
package orchestrators
