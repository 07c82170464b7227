#!/usr/bin/env bash
# The main job: a busybox root filesystem becomes an image in xmgr's store
# (`xmgr import`, a private daemon started on demand), the image is saved in
# Docker's archive format and unpacked into a bundle with `xrt spec`, and the
# container runs under xrt-shim with xrt, its output read back from the shim's
# json-file log. `xmgr run` comes with the next manager issue.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
work=$(mktemp -d /tmp/xrt-demo.XXXXXX)
export XMGR_DATA_ROOT=$work/xmgr-data XMGR_EXEC_ROOT=$work/xmgr-run
id=demo-$$
cleanup() {
	"$bin/xrt" --root "$work/xrt" delete --force "$id" >/dev/null 2>&1 || true
	if [[ -f $XMGR_EXEC_ROOT/xmgr.pid ]]; then
		kill "$(cat "$XMGR_EXEC_ROOT/xmgr.pid")" 2>/dev/null || true
		for _ in $(seq 50); do [[ -e $XMGR_EXEC_ROOT/xmgr.sock ]] || break; sleep 0.1; done
	fi
	umount -R "$XMGR_DATA_ROOT" 2>/dev/null || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
run() { echo "+ $*" | sed "s|$bin/||g; s|$work|\$WORK|g"; "$@"; }

# A root filesystem from Debian's busybox-static.
rootfs=$work/rootfs
mkdir -p "$rootfs/bin"
cp /bin/busybox "$rootfs/bin/busybox"
for tool in sh echo cat hostname id ls ps uname mount sleep; do ln -s busybox "$rootfs/bin/$tool"; done

# An image in xmgr's store, from that tree.
tar -C "$rootfs" -c . | run "$bin/xmgr" import \
	--change 'CMD ["sh", "-c", "echo hello from $(hostname); id; ps -o pid,user,args"]' \
	--change 'ENV GREETING=hi' -m "the demo's busybox" - demo/busybox:1
run "$bin/xmgr" images
run "$bin/xmgr" history demo/busybox:1

# The image out of the store, in Docker's archive format, into a bundle.
run "$bin/xmgr" save -o "$work/image.tar" demo/busybox:1
mkdir -p "$work/image" "$work/bundle/rootfs"
tar -C "$work/image" -xf "$work/image.tar"
config=$work/image/$(jq -r '.[0].Config' "$work/image/manifest.json")
for layer in $(jq -r '.[0].Layers[]' "$work/image/manifest.json"); do
	tar -C "$work/bundle/rootfs" -xf "$work/image/$layer"
done
"$bin/xrt" spec --bundle "$work/bundle"
jq --slurpfile img "$config" '.process.terminal = false
	| .process.args = $img[0].config.Cmd
	| .process.env += $img[0].config.Env' \
	"$work/bundle/config.json" >"$work/bundle/config.new"
mv "$work/bundle/config.new" "$work/bundle/config.json"

# The container, supervised by xrt-shim, which keeps its log and exit status.
mkdir -p "$work/state"
run "$bin/xrt-shim" --id "$id" --bundle "$work/bundle" --runtime "$bin/xrt" \
	--runtime-root "$work/xrt" --state-dir "$work/state/$id" --log-path "$work/state/$id.log" \
	--exit-timeout 5s
for _ in $(seq 100); do [[ -f $work/state/$id/exit.json ]] && break; sleep 0.05; done
echo "+ the container's log (json-file, as docker's):"
jq -r '"  " + .stream + ": " + (.log | rtrimstr("\n"))' "$work/state/$id.log"
echo "+ its exit status:"
jq -c . "$work/state/$id/exit.json"
