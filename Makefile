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

.PHONY: all build setup demo test unit integration conformance conformance-strict bench install clean lint

all: build

build:
	$(GO) build $(GOFLAGS_BUILD) -o $(XRT) ./runtime/cmd/xrt

# Debian packages and Go modules; quick when everything is there already.
setup:
	bash .ci/setup

# The main job: build xrt, make a bundle from Debian's busybox-static with
# `xrt spec`, and run it.
demo: setup build
	bash tests/demo.sh

test: setup build unit integration conformance-strict

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./specs/... ./runtime/... ./tests/conformance/ ./tests/bench/

SHELL := /bin/bash

integration: build
	XRT_BINARY=$(abspath $(XRT)) $(GO) test -count=1 -v ./tests/integration/... 2>&1 | tee /tmp/xrt-integration.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)' ; exit $${PIPESTATUS[0]}

# The OCI validation suite, xrt beside runc, one row per test file.
conformance: build
	XRT=$(abspath $(XRT)) bash tests/conformance/run.sh

# The same, failing when any file of the required list does worse than runc.
conformance-strict: build
	CONFORMANCE_STRICT=1 XRT=$(abspath $(XRT)) bash tests/conformance/run.sh

bench: build
	$(GO) run ./tests/bench -xrt $(abspath $(XRT))

install: build
	install -D -m 0755 $(XRT) $(DESTDIR)$(PREFIX)/bin/xrt

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

clean:
	rm -rf bin tests/conformance/.work
