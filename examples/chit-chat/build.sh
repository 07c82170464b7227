#!/usr/bin/env bash
# Builds chit-chat as a static binary and packs it into an image FROM
# scratch: /chit-chat alone, CMD ["/chit-chat"], EXPOSE 3000, ENV PATH and
# HEALTHCHECK ["CMD","/chit-chat","-healthcheck"]. The image is a
# docker-save archive (manifest.json, config, one layer), which both
# `xmgr load` and `docker load` read; it is loaded with xmgr load rather
# than made by xmgr import because import --change has no HEALTHCHECK.
#
#   build.sh XMGR [NAME:TAG]       build and load into xmgr (default chit-chat:latest)
#   build.sh -o FILE [NAME:TAG]    only write the archive to FILE
set -euo pipefail

usage() {
	sed -n 's/^#   //p' "$0" >&2
	exit 2
}

xmgr= out=
case "${1:-}" in
-o) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
-h | --help | "") usage ;;
*) xmgr=$1; shift ;;
esac
tag=${1:-chit-chat:latest}
[ $# -le 1 ] || usage
if [ -n "$xmgr" ] && ! [ -x "$xmgr" ]; then
	echo "build.sh: $xmgr is not an executable xmgr" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
go=$(command -v go || echo /usr/local/go/bin/go)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The binary: static, no paths of this machine in it.
mkdir "$work/rootfs"
(cd "$here" && CGO_ENABLED=0 "$go" build -trimpath -ldflags '-s -w' -o "$work/rootfs/chit-chat" .)
chmod 0755 "$work/rootfs/chit-chat"

# The layer, made the same way each time: root owner, fixed time.
mkdir "$work/image"
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --format=ustar \
	-C "$work/rootfs" -cf "$work/layer.tar" chit-chat
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir "$work/image/$diff_id"
mv "$work/layer.tar" "$work/image/$diff_id/layer.tar"

created=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)
arch=$(cd "$here" && "$go" env GOARCH)
# Healthcheck durations are nanoseconds, as in Docker's image config.
cat >"$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","created":"$created",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  "Cmd":["/chit-chat"],"ExposedPorts":{"3000/tcp":{}},
  "Healthcheck":{"Test":["CMD","/chit-chat","-healthcheck"],"Interval":10000000000,"Timeout":3000000000,"Retries":3}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"$created","created_by":"examples/chit-chat/build.sh"}]}
JSON
config_id=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/image/$config_id.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' \
	"$config_id" "$tag" "$diff_id" >"$work/image/manifest.json"
archive=${out:-$work/chit-chat.tar}
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --format=ustar -C "$work/image" \
	-cf "$archive" manifest.json "$config_id.json" "$diff_id"

if [ -n "$xmgr" ]; then
	"$xmgr" load -i "$archive"
	echo "built $tag (sha256:$config_id)"
else
	echo "wrote $archive: $tag (sha256:$config_id)"
fi
