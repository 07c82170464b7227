#!/usr/bin/env bash
# The main job, Docker's classic first run with our tools: build the
# examples/chit-chat web app into an image FROM scratch with `xmgr build`
# (the daemon starts on first use, with the default roots), run it with
# `xmgr run -d -p 3000:3000`, and check that it answers on localhost:3000.
# The app keeps running afterwards, for you to open in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
run() { echo "+ $*" | sed "s|$bin/|bin/|g"; "$@"; }

# A daemon left running by another build serves this build's CLI: say so.
server=$("$bin/xmgr" version --format '{{.Server.Version}}' 2>/dev/null || true)
client=$("$bin/xmgr" version --format '{{.Client.Version}}' 2>/dev/null || true)
if [ -n "$server" ] && [ "$server" != "$client" ]; then
	echo "demo: warning: the running xmgr daemon is version $server, this build is $client; stop that daemon to use this build's" >&2
fi

run examples/chit-chat/build.sh "$bin/xmgr" chit-chat:latest
# A chat left from an earlier demo gives way to the new one.
"$bin/xmgr" rm -f chat >/dev/null 2>&1 || true
run "$bin/xmgr" run -d -p 3000:3000 --name chat chit-chat
for i in $(seq 100); do
	curl -fsS -o /dev/null http://127.0.0.1:3000/healthz 2>/dev/null && break
	if [ "$i" = 100 ]; then
		echo "demo: chit-chat did not answer on localhost:3000" >&2
		"$bin/xmgr" logs chat >&2 || true
		exit 1
	fi
	sleep 0.05
done
run curl -fsS -d '{"name":"demo","text":"hello from xmgr"}' http://localhost:3000/messages
echo
run "$bin/xmgr" ps
run "$bin/xmgr" logs chat
cat <<EOF

chit-chat answers on http://localhost:3000 (and on this machine's addresses, port 3000).
  open http://localhost:3000 in a browser, or:
  curl -d '{"name":"me","text":"hi"}' localhost:3000/messages
  sudo bin/xmgr logs -f chat       # the conversation, live
  sudo bin/xmgr stop chat          # stop it (sudo bin/xmgr rm chat to remove it)
EOF
