#!/usr/bin/env bash
# The main job until the manager exists: a bundle from Debian's busybox-static,
# a config.json from `xrt spec`, and a container that prints from inside.
set -euo pipefail
cd "$(dirname "$0")/.."
xrt=$PWD/bin/xrt
bundle=$(mktemp -d /tmp/xrt-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT

mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for tool in sh echo cat hostname id ls ps uname mount; do
	ln -s busybox "$bundle/rootfs/bin/$tool"
done
"$xrt" spec --bundle "$bundle"
# No terminal (so it runs without one, in CI too), and a short script.
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo \"hello from inside container $(hostname)\"; echo \"I am $(id)\"; echo \"pid $$ sees:\"; ps -o pid,user,args; echo; echo mounts:; mount | cut -d\" \" -f1-5"]' \
	"$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"

echo "+ xrt run --bundle $bundle demo-$$"
"$xrt" run --bundle "$bundle" "demo-$$"
