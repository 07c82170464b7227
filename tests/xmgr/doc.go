// Package xmgr holds the integration tests of xmgr: each test starts a real
// daemon on a private socket, data root and exec root, a real registry
// (Debian's docker-registry on a loopback port) when it needs one, and
// drives the daemon through the xmgr CLI, the Go API client and, when it
// is installed, Docker's own CLI. They run as root and never reach the
// internet. XMGR_BINARY names the xmgr binary to test (default: built from
// ./manager/cmd/xmgr into a temporary directory).
package xmgr
