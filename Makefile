# xrt / xmgr. `make demo` is the main job, `make test` the tests; both set up
# a fresh Debian machine first (as root): see .ci/setup.
GO        ?= go
PREFIX    ?= /usr/local
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# osusergo/netgo: pure-Go user and DNS lookups, so the binary links
# statically (no NSS) though cgo stays on for nsenter: a static binary
# starts ~0.4 ms sooner, and xrt starts four times per container.
# urfave_cli_no_docs drops the man-page generator and its init cost.
GOFLAGS_BUILD = -trimpath -tags osusergo,netgo,urfave_cli_no_docs \
	-ldflags '-s -w -X main.version=$(VERSION) -linkmode external -extldflags "-static"'
XRT       = bin/xrt
# xrt-shim is pure Go (no cgo): CGO_ENABLED=0 links it statically without
# the external linker, and keeps it small (its RSS is its size, mostly).
XRT_SHIM  = bin/xrt-shim
SHIM_BUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION)'
# xmgr (CLI and daemon) is pure Go too (modernc sqlite): static without cgo.
XMGR      = bin/xmgr
XMGR_BUILD = CGO_ENABLED=0 $(GO) build -trimpath -tags osusergo,netgo,urfave_cli_no_docs -ldflags '-s -w -X main.version=$(VERSION)'

.PHONY: build-bench run-bench registry-test pull-bench xmgr-test xmgr-bench shim-test shim-bench all build setup demo test unit integration orchestrators conformance conformance-strict bench install clean lint

all: build

build:
	$(GO) build $(GOFLAGS_BUILD) -o $(XRT) ./runtime/cmd/xrt
	$(SHIM_BUILD) -o $(XRT_SHIM) ./shim/cmd/xrt-shim
	$(XMGR_BUILD) -o $(XMGR) ./manager/cmd/xmgr
	$(SHIM_BUILD) -o bin/xmgr-init ./manager/cmd/xmgr-init

# Debian packages and Go modules; quick when everything is there already.
setup:
	bash .ci/setup

# The main job: build xrt, make a bundle from Debian's busybox-static with
# `xrt spec`, and run it.
demo: setup build
	bash tests/demo.sh

test: setup build unit integration shim-test registry-test xmgr-test orchestrators conformance-strict

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./specs/... ./runtime/... ./shim/... ./manager/... ./bundle/... ./examples/... ./tests/conformance/ ./tests/bench/... ./tests/orchestrators/

SHELL := /bin/bash

integration: build
	XRT_BINARY=$(abspath $(XRT)) $(GO) test -count=1 -v ./tests/integration/... 2>&1 | tee /tmp/xrt-integration.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)' ; exit $${PIPESTATUS[0]}

# xrt under containerd (ctr run --runc-binary), Docker (dockerd
# --add-runtime) and containerd's CRI plugin (a RuntimeClass handler, driven
# by crictl), each daemon private to the test; ORCH_TIMING=N adds a
# side-by-side timing of N runs with xrt and with runc.
orchestrators: build bin/crictl
	CRICTL=$(abspath bin/crictl) XRT_BINARY=$(abspath $(XRT)) XRT_ORCH_TIMING=$(ORCH_TIMING) $(GO) test -count=1 -v ./tests/orchestrators/

# crictl talks CRI to containerd as a kubelet does. Debian has no package:
# it is built once through the Go module proxy (outside go.mod).
CRICTL_VERSION = v1.37.0
bin/crictl:
	GOBIN=$(abspath bin) $(GO) install sigs.k8s.io/cri-tools/cmd/crictl@$(CRICTL_VERSION)

# The OCI validation suite, xrt beside runc, one row per test file.
conformance: build
	XRT=$(abspath $(XRT)) bash tests/conformance/run.sh

# The same, failing when any file of the required list does worse than runc.
conformance-strict: build
	CONFORMANCE_STRICT=1 XRT=$(abspath $(XRT)) bash tests/conformance/run.sh

bench: build
	$(GO) run ./tests/bench -xrt $(abspath $(XRT))

# xrt-shim's integration tests (root; xrt and runc as runtimes); its unit tests are in `unit`.
shim-test: build
	XRT_BINARY=$(abspath $(XRT)) XRT_SHIM_BINARY=$(abspath $(XRT_SHIM)) $(GO) test -count=1 -v ./tests/shim/ 2>&1 | tee /tmp/xrt-shim-test.log | grep -E '^(=== RUN|\s*--- |PASS|FAIL|ok|panic)' ; exit $${PIPESTATUS[0]}

# xrt-shim beside bare xrt (and containerd-shim-runc-v2's memory): RSS, start, log throughput.
shim-bench: build
	$(GO) run ./tests/bench/shim -xrt $(abspath $(XRT)) -shim $(abspath $(XRT_SHIM))

# xmgr's integration tests (root; a private daemon, Debian's docker-registry,
# Docker's CLI if there); its unit tests are in `unit`.
xmgr-test: build
	XMGR_BINARY=$(abspath $(XMGR)) $(GO) test -count=1 -v ./tests/xmgr/ 2>&1 | tee /tmp/xmgr-test.log | grep -E '^(=== RUN|\s*--- |PASS|FAIL|ok|panic)' ; exit $${PIPESTATUS[0]}

# xmgr's registry client against Debian's docker-registry on a loopback port:
# pull, push, login, and the faults (bad digests, truncation, a registry
# that hangs up mid-pull, kill -9).
registry-test: build
	$(GO) test -count=1 -v ./tests/registry/... 2>&1 | tee /tmp/xmgr-registry-test.log | grep -E '^(=== RUN|\s*--- |PASS|FAIL|ok|panic)' ; exit $${PIPESTATUS[0]}

# xmgr pull of a five-layer 116 MB image beside docker pull and skopeo copy.
pull-bench: build
	$(GO) run ./tests/bench/pull -runs 5 -xmgr $(abspath $(XMGR))

# xmgr's daemon beside a private dockerd, both driven by Docker's CLI:
# start-up, memory, API round trips, pull, second pull, save, load.
xmgr-bench: build
	XMGR_BINARY=$(abspath $(XMGR)) XMGR_BENCH=1 $(GO) test -count=1 -v -run TestBenchAgainstDocker ./tests/xmgr/ 2>&1 | grep -vE 'level=' | sed -n '/xmgr  *dockerd/,/^---/p'

# xmgr run beside docker run (a private dockerd with its own bridge): start
# latency with --network none and the default bridge, 50 containers at
# once, memory per idle container. XMGR_BENCH_RUNS=N sets the runs.
# xmgr build beside docker build (Debian's CLI, classic builder, a private
# dockerd) on tests/build/bench: cold and fully cached. XMGR_BENCH_RUNS=N.
build-bench: build
	XMGR_BINARY=$(abspath $(XMGR)) XMGR_BENCH=1 $(GO) test -count=1 -v -timeout 30m -run TestBuildBenchAgainstDocker ./tests/xmgr/ 2>&1 | grep -vE 'level=|^=== |^--- |^PASS|^ok'

run-bench: build
	XMGR_BINARY=$(abspath $(XMGR)) XMGR_BENCH=1 $(GO) test -count=1 -v -timeout 30m -run TestRunBenchAgainstDocker ./tests/xmgr/ 2>&1 | grep -vE 'level=|^=== |^--- |^PASS|^ok'

install: build
	install -D -m 0755 $(XRT) $(DESTDIR)$(PREFIX)/bin/xrt
	install -D -m 0755 $(XMGR) $(DESTDIR)$(PREFIX)/bin/xmgr
	install -D -m 0755 $(XRT_SHIM) $(DESTDIR)$(PREFIX)/bin/xrt-shim
	install -D -m 0755 bin/xmgr-init $(DESTDIR)$(PREFIX)/bin/xmgr-init

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

clean:
	rm -rf bin tests/conformance/.work
