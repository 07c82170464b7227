#!/usr/bin/env bash
# Runs the OCI runtime validation suite (github.com/opencontainers/runtime-tools) against
# xrt and, when installed, runc, and prints the results side by side.
#
#   tests/conformance/run.sh                 # every test file
#   tests/conformance/run.sh create kill     # only these
#
# Environment:
#   XRT=path                  runtime under test (default: bin/xrt of this repository)
#   RUNC=path                 baseline runtime (default: runc on PATH; RUNC= disables it)
#   RUNTIME_TOOLS_VERSION=v   runtime-tools version to build the suite from
#   TEST_TIMEOUT=seconds      per test file (default 120)
#   CONFORMANCE_STRICT=1      exit 1 when a file of CONFORMANCE_REQUIRED is worse with xrt
#   CONFORMANCE_REQUIRED="…"  files that must not be worse with xrt than with runc
#   CONFORMANCE_LOG=1         also pass --log <results>/<test>.log --log-format json
#
# Everything lives in tests/conformance/.work: the throwaway module and the cached test
# binaries (bin/<version>), the runtimes' private state (state/<runtime>, so the system's
# /run/runc is never touched), the tests' temporary bundles (tmp/) and the TAP output
# (results/<runtime>/<test>.tap) with results/table.md.
set -euo pipefail

RUNTIME_TOOLS_VERSION=${RUNTIME_TOOLS_VERSION:-v0.9.1-0.20251114084447-edf4cb3d2116}
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
# Part 1 of the conformance issue: the files xrt must pass at least as well as runc.
DEFAULT_REQUIRED="create start state kill killsig kill_no_effect delete
	delete_only_create_resources delete_resources hooks hooks_stdin prestart prestart_fail
	poststart poststart_fail poststop poststop_fail hostname mounts linux_ns_itype
	linux_ns_nopath linux_ns_path linux_ns_path_type linux_devices linux_masked_paths
	linux_readonly_paths linux_sysctl linux_uid_mappings linux_rootfs_propagation misc_props
	pidfile process process_user process_capabilities process_capabilities_fail
	process_oom_score_adj process_rlimits process_rlimits_fail root_readonly_true default"
CONFORMANCE_REQUIRED=${CONFORMANCE_REQUIRED:-$DEFAULT_REQUIRED}
# Files whose result depends on a race in the test itself get up to three
# tries, with either runtime alike: pidfile runs `true`, then waits for
# "running" and kills it, which fails whenever `true` has already exited.
RACY="pidfile"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$here/.work
bindir=$work/bin/$RUNTIME_TOOLS_VERSION
XRT=${XRT:-$repo/bin/xrt}
RUNC=${RUNC-$(command -v runc || true)}

log() { printf 'conformance: %s\n' "$*" >&2; }

# build compiles every validation/<name> test and cmd/runtimetest, statically, into $bindir,
# next to the rootfs tarballs the tests unpack. A complete build is marked and reused.
build() {
	[[ -f $bindir/.complete ]] && return
	local mod=$work/mod pkg=github.com/opencontainers/runtime-tools
	log "building runtime-tools $RUNTIME_TOOLS_VERSION into $bindir"
	mkdir -p "$mod"
	(
		cd "$mod"
		export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
		[[ -f go.mod ]] || go mod init xrt-conformance-suite >/dev/null 2>&1
		go get "$pkg/validation/...@$RUNTIME_TOOLS_VERSION" "$pkg/cmd/runtimetest@$RUNTIME_TOOLS_VERSION"
		local src
		src=$(go list -m -f '{{.Dir}}' "$pkg")
		rm -rf "$bindir.tmp"
		mkdir -p "$bindir.tmp"
		# go build -o DIR/ writes one binary per main package, named for its directory.
		go build -trimpath -o "$bindir.tmp/" "$pkg/validation/..." "$pkg/cmd/runtimetest"
		cp "$src"/rootfs-*.tar.gz "$bindir.tmp/"
		find "$src/validation" -mindepth 1 -maxdepth 1 -type d ! -name util -printf '%f\n' |
			LC_ALL=C sort >"$bindir.tmp/tests.list"
		touch "$bindir.tmp/.complete"
	)
	rm -rf "$bindir"
	mv "$bindir.tmp" "$bindir"
}

# wrapper writes a script that runs runtime $2 with a private --root; the suite calls the
# runtime by name (RUNTIME) with no global flags, so this is where they go.
wrapper() {
	local label=$1 runtime=$2 dir=$work/state/$1
	mkdir -p "$dir/root"
	cat >"$dir/runtime" <<-EOF
		#!/bin/sh
		if [ -n "\${CONFORMANCE_LOG_FILE:-}" ]; then
		    exec '$runtime' --root '$dir/root' --log "\$CONFORMANCE_LOG_FILE" --log-format json "\$@"
		fi
		exec '$runtime' --root '$dir/root' "\$@"
	EOF
	chmod +x "$dir/runtime"
	echo "$dir/runtime"
}

# cleanup removes whatever a test left behind: containers in the private root, bundles.
cleanup() {
	local rt=$1 tmp=$2 id
	while read -r id; do
		[[ -n $id ]] && "$rt" delete -f "$id" >/dev/null 2>&1 || true
	done < <("$rt" list -q 2>/dev/null || true)
	# A container without its own mount namespace (linux_ns_itype) mounts /proc, /dev and
	# /sys over its bundle in ours; detach those, deepest first, before removing bundles.
	awk -v p="$tmp/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" || true; done
	rm -rf --one-file-system "$tmp" || log "could not remove $tmp"
	mkdir -p "$tmp"
}

# count prints "ok notok skip note" for the TAP on stdin; $1 is the test's exit status.
count() { awk -v rc="$1" -v expectfail="${2:-0}" -f "$here/count.awk"; }

# run_suite runs the selected tests with runtime $2, recording results under label $1.
run_suite() {
	local label=$1 runtime=$2 rt res=$work/results/$1 run=$work/run/$1 tmp=$work/tmp/$1 t rc
	rt=$(wrapper "$label" "$runtime")
	mkdir -p "$res" "$run"
	# A copy, not a symlink: the tests copy it into the bundle with fileutils, which keeps
	# symlinks as symlinks, and a link to a host path does not resolve in the container.
	rm -f "$run/runtimetest"
	cp "$bindir/runtimetest" "$run/runtimetest"
	for t in "$bindir"/rootfs-*.tar.gz; do ln -sf "$t" "$run/"; done
	cleanup "$rt" "$tmp"
	log "running ${#tests[@]} test files with $runtime"
	for t in "${tests[@]}"; do
		local try tries=1
		[[ " $RACY " == *" $t "* ]] && tries=3
		for ((try = 1; try <= tries; try++)); do
			rc=0
			local logfile=
			[[ ${CONFORMANCE_LOG:-} == 1 ]] && logfile=$res/$t.log
			# PrepareBundle untars rootfs-<arch>.tar.gz and copies ./runtimetest from the cwd.
			(cd "$run" && RUNTIME=$rt TMPDIR=$tmp CONFORMANCE_LOG_FILE=$logfile \
				timeout -k 10 "$TEST_TIMEOUT" "$bindir/$t" </dev/null >"$res/$t.tap" 2>"$res/$t.err") || rc=$?
			count "$rc" "$([[ $t == *_fail ]] && echo 1 || echo 0)" <"$res/$t.tap" >"$res/$t.count"
			cleanup "$rt" "$tmp"
			awk '{ exit !($2 == 0) }' "$res/$t.count" && break
		done
		printf '  %-36s %s\n' "$t" "$(cat "$res/$t.count")" >&2
	done
	rm -rf --one-file-system "$tmp" || true
}

# cell prints "ok/notok" for one result, with skips; "-" when not run.
cell() {
	local f=$work/results/$1/$2.count ok nok skip note
	[[ -f $f ]] || { echo "-"; return; }
	read -r ok nok skip note <"$f"
	local s="$ok/$nok"
	((skip > 0)) && s+=" ($skip skip)"
	[[ -n $note ]] && s+=" [$note]"
	echo "$s"
}

field() { # field LABEL TEST N: the Nth number of a count file, empty when not run
	local f=$work/results/$1/$2.count
	if [[ -f $f ]]; then awk -v n="$3" '{ print $n }' "$f"; fi
}

report() {
	local t xo xn ro rn mark rows=() worse=()
	local xok=0 xnok=0 xpass=0 rok=0 rnok=0 rpass=0 nx=0 nr=0
	for t in "${tests[@]}"; do
		xo=$(field xrt "$t" 1) xn=$(field xrt "$t" 2)
		ro=$(field runc "$t" 1) rn=$(field runc "$t" 2)
		mark=
		if [[ -n $xo ]]; then
			((nx += 1, xok += xo, xnok += xn, xpass += (xn == 0))) || true
		fi
		if [[ -n $ro ]]; then
			((nr += 1, rok += ro, rnok += rn, rpass += (rn == 0))) || true
		fi
		if [[ -n $xo && -n $ro ]]; then
			if ((xn > rn)); then mark=WORSE; elif ((xn < rn)); then mark=better; fi
		fi
		# Without a baseline, any not-ok in a required file is a failure.
		if [[ -n $xo && ( $mark == WORSE || ( -z $ro && $xn -gt 0 ) ) ]]; then
			[[ " ${CONFORMANCE_REQUIRED//[$'\t\n']/ } " == *" $t "* ]] && worse+=("$t")
		fi
		rows+=("$t|$(cell xrt "$t")|$(cell runc "$t")|$mark")
	done
	local xtot=- rtot=-
	((nx > 0)) && xtot="$xok/$xnok ($xpass/$nx)"
	((nr > 0)) && rtot="$rok/$rnok ($rpass/$nr)"
	rows+=("TOTAL (files passing)|$xtot|$rtot|")

	local header="test|xrt ok/notok|runc ok/notok|mark"
	printf '%s\n' "$header" "${rows[@]}" | column -t -s '|'
	{
		echo "| ${header//|/ | } |"
		echo "| --- | --- | --- | --- |"
		local r
		for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
	} >"$work/results/table.md"
	echo
	echo "TAP output in $work/results/<runtime>/; markdown table in $work/results/table.md"
	if ((${#worse[@]} > 0)); then
		echo "required files worse with xrt: ${worse[*]}"
	fi
	if [[ ${CONFORMANCE_STRICT:-} == 1 ]]; then
		((nx > 0)) || { echo "strict: xrt was not run" >&2; return 1; }
		((${#worse[@]} == 0)) || return 1
	fi
	return 0
}

main() {
	if [[ ${1:-} == -h || ${1:-} == --help ]]; then
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
	fi
	command -v go >/dev/null || { log "go is needed to build the suite"; exit 1; }
	build
	mapfile -t all <"$bindir/tests.list"
	tests=()
	if (($# > 0)); then
		for t in "$@"; do
			[[ -x $bindir/$t && " ${all[*]} " == *" $t "* ]] || { log "no such test: $t"; exit 2; }
			tests+=("$t")
		done
	else
		tests=("${all[@]}")
	fi
	if ((EUID != 0)); then
		log "the suite creates containers and needs root"
		exit 1
	fi
	local t
	for t in "${tests[@]}"; do rm -f "$work/results/xrt/$t".* "$work/results/runc/$t".*; done
	if [[ -x $XRT ]]; then
		run_suite xrt "$(readlink -f "$XRT")"
	else
		log "xrt not found at $XRT (run make build); skipping it"
	fi
	if [[ -n $RUNC && -x $RUNC ]]; then
		run_suite runc "$(readlink -f "$(command -v "$RUNC")")"
	else
		log "no baseline: runc not found (RUNC=${RUNC})"
	fi
	report
}

main "$@"
