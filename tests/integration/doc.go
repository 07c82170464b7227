// Package integration runs real containers through the xrt binary named by
// $XRT_BINARY, as root, on bundles made from Debian's busybox-static, and
// checks what the containers see from the inside and what the host sees
// from the outside. It holds only tests; run it with
//
//	make build && XRT_BINARY=$PWD/bin/xrt go test -count=1 -v ./tests/integration/
//
// The tests skip when XRT_BINARY is unset or when not run as root. Since the
// command line is runc's, XRT_BINARY=/usr/sbin/runc runs them against runc.
package integration
