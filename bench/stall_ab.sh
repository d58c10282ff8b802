#!/bin/bash
# A stall script of bench/ (setrange_stall.py, rename_stall.py) against kvcache-server builds and
# redis-server in turn, one fresh server each (all with --maxmemory 4gb on a free port), ROUNDS
# times: how long one large command takes and how long it holds up another client's GETs.
#
#   bench/stall_ab.sh ROUNDS "SCRIPT ARG..." SERVER_A [SERVER_B ...]
#   e.g. bench/stall_ab.sh 2 "setrange_stall.py 400000000" build/bin/kvcache-server \
#          /tmp/build-old/bin/kvcache-server
set -euo pipefail
ROUNDS=$1
read -r SCRIPT ARGS <<<"$2"
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for _ in $(seq "$ROUNDS"); do
  for B in "$@" redis-server; do
    if [ "$B" = redis-server ]; then
      redis-server --port "$PORT" --save "" --appendonly no --maxmemory 4gb >/dev/null 2>&1 &
    else
      "$B" --port "$PORT" --maxmemory 4gb >/dev/null 2>&1 &
    fi
    PID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    echo "$B: $(/usr/bin/python3 "$HERE/$SCRIPT" "$PORT" $ARGS)"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
  done
done
