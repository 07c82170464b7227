#!/usr/bin/env bash
# Builds chit-chat as a static binary, then its image with `xmgr build`
# from the Dockerfile beside this script (FROM scratch: the binary,
# EXPOSE 3000, a HEALTHCHECK, CMD ["/chit-chat"]).
#
#   build.sh XMGR [NAME:TAG]    build the image into xmgr (default chit-chat:latest)
set -euo pipefail

usage() {
	sed -n 's/^#   //p' "$0" >&2
	exit 2
}

case "${1:-}" in
-h | --help | "") usage ;;
esac
xmgr=$1
tag=${2:-chit-chat:latest}
[ $# -le 2 ] || usage
if ! [ -x "$xmgr" ]; then
	echo "build.sh: $xmgr is not an executable xmgr" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
go=$(command -v go || echo /usr/local/go/bin/go)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

# The binary: static, no paths of this machine in it.
(cd "$here" && CGO_ENABLED=0 "$go" build -trimpath -ldflags '-s -w' -o "$context/chit-chat" .)
chmod 0755 "$context/chit-chat"
cp "$here/Dockerfile" "$context/Dockerfile"
"$xmgr" build -t "$tag" "$context"
