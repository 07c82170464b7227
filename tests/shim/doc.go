// Package shim holds the integration tests of xrt-shim: real containers,
// run as root through bin/xrt-shim with xrt and with runc as the runtime,
// driven through shim/client as the manager drives them.
//
//	make build
//	sudo XRT_BINARY=$PWD/bin/xrt XRT_SHIM_BINARY=$PWD/bin/xrt-shim go test -v ./tests/shim/
//
// The tests skip when not root or when a binary is missing.
package shim
