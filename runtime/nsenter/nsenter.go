// Package nsenter joins namespaces before the Go runtime starts.
//
// Importing it (for its side effect) links a C constructor into the binary.
// The constructor does nothing unless the environment holds _XRT_NSENTER,
// which the runtime sets only when it starts a container's init that must
// join existing namespaces or create pid or time namespaces after a join:
// things that need a single-threaded process. See nsenter.c for the protocol.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"
