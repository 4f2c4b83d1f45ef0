#!/usr/bin/env bash
# strace-handoff.sh: the system calls of one hand-off, under one transport.
#
#   scripts/strace-handoff.sh fast      # the default: handoff writes its own line with the fd
#   scripts/strace-handoff.sh send      # subprocess.send(msg, handle): Node's NODE_HANDLE / NODE_HANDLE_ACK
#
# Starts a master with one worker (examples/hello.js) on a free loopback port
# under `strace -f`, sends it one request with curl, stops it with SIGTERM,
# and prints the calls that carried that connection, from the master's
# accept4() to its close() of its own copy, plus the socketpair() that made
# the IPC channel at fork. The full capture stays in a scratch directory
# (printed at the end). Needs strace (apt-get install strace) and curl, and a
# built checkout (npm run build). Every wait is bounded; nothing listens
# beyond 127.0.0.1/::1 for longer than the run, and only one request is sent.
#
# See docs/under-the-hood.md, "One hand-off, in system calls".
set -euo pipefail

transport="${1:-fast}"
case "$transport" in fast|send) ;; *) echo "usage: $0 fast|send" >&2; exit 2 ;; esac
command -v strace >/dev/null || { echo "strace is not installed (apt-get install strace)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$root/dist/master.js" ] || { echo "no dist/master.js: run npm run build first" >&2; exit 2; }
dir="$(mktemp -d "${TMPDIR:-/tmp}/handoff-strace.XXXXXX")"
raw="$dir/strace-$transport.txt"
out="$dir/master.out"

# -f: follow the worker; -yy: print what each fd is (TCP ports, UNIX inodes);
# only the calls a hand-off makes. Heartbeats and the control socket are off,
# so that the IPC lines are only the hand-off's.
strace -f -qq -yy -s 120 -e signal=none \
  -e trace=socketpair,accept4,sendmsg,recvmsg,read,write,close \
  -o "$raw" \
  node "$root/dist/master.js" "$root/examples/hello.js" -w 1 --port 0 --host 127.0.0.1 \
    --transport "$transport" --heartbeat-interval 0 --control off --no-timestamps >"$out" 2>&1 &
tracer=$!

stop() {
  if [ -n "${master:-}" ] && kill -0 "$master" 2>/dev/null; then kill -TERM "$master" 2>/dev/null || true; fi
  for _ in $(seq 100); do kill -0 "$tracer" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$tracer" 2>/dev/null || true
}
trap stop EXIT

# Wait (at most 10 s) for the ready line.
for _ in $(seq 200); do grep -q '^handoff: listening' "$out" 2>/dev/null && break; sleep 0.05; done
grep -q '^handoff: listening' "$out" || { echo "the master did not start:" >&2; cat "$out" >&2; exit 1; }
port="$(sed -n 's/^handoff: listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out")"
master="$(sed -n 's/.*master pid \([0-9]*\).*/\1/p' "$out")"

curl -s --max-time 5 "http://127.0.0.1:$port/" >"$dir/response"
# Bounded wait for the master's close of its copy: the last line of the excerpt.
for _ in $(seq 100); do grep -q "^$master close([0-9]*<TCP[^>]*->" "$raw" && break; sleep 0.05; done
stop
trap - EXIT

# The excerpt: from the master's accept4() of the client to its close() of that fd.
first="$(grep -n "^$master accept4([0-9]*<TCP" "$raw" | head -1 | cut -d: -f1)"
conn_fd="$(sed -n "${first}p" "$raw" | sed 's/.*) = \([0-9]*\)<.*/\1/')"
last="$(grep -n "^$master close($conn_fd<TCP" "$raw" | head -1 | cut -d: -f1)"
chan_fd="$(sed -n "${first},${last}p" "$raw" | grep "^$master sendmsg(" | head -1 | sed 's/^[0-9]* sendmsg(\([0-9]*\)<.*/\1/')"
worker="$(sed -n "${first},${last}p" "$raw" | grep -v "^$master " | head -1 | cut -d' ' -f1)"

shorten() {
  # Drop the fields that are always the same, and name the two processes.
  sed -e 's/msg_name=NULL, msg_namelen=0, //' -e 's/, msg_iovlen=1//' \
      -e 's/cmsg_len=20, cmsg_level=SOL_SOCKET, //' -e 's/, msg_controllen=[0-9]*//' \
      -e 's/, msg_flags=[A-Z_0-9]*//' -e 's/, MSG_CMSG_CLOEXEC)/)/' -e 's/}, 0)/})/' \
      -e 's/iov_len=65536/iov_len=64K/' \
      -e "s/^$master /master /" -e "s/^$worker /worker /"
}

echo "# transport $transport: $(cat "$dir/response") (master pid $master, worker pid $worker)"
echo "# the IPC channel, made by libuv before the fork (the worker gets the second fd as its fd 3):"
grep "^$master socketpair(.*\[$chan_fd<" "$raw" | shorten
echo "# one connection:"
sed -n "${first},${last}p" "$raw" \
  | grep -E '^[0-9]+ (accept4|sendmsg|recvmsg|close)\(|^[0-9]+ (read|write)\([0-9]+<(UNIX|TCP)' \
  | grep -v 'read([0-9]*<TCP.*= 0$' | shorten
echo "# full capture: $raw"
