// Package conformance holds the harness that runs the OCI runtime validation suite
// (github.com/opencontainers/runtime-tools) against xrt and runc side by side: run.sh
// builds and runs the suite, count.awk turns each test file's TAP into counts. The Go
// code here only tests those two files.
package conformance
