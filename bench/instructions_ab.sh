#!/bin/bash
# User-space instructions per request of two or more kvcache-server builds under one small,
# fixed redis-benchmark load, each server run under callgrind (one worker thread): a measure of
# a code change that, unlike CPU time on this VM, does not move with the host. It counts no
# kernel work and no cache misses; ab_servers.sh measures those.
#
#   bench/instructions_ab.sh ROUNDS SERVER_A SERVER_B [...]
#
# One line per build and round: total instructions (start-up included, the same for all) and
# instructions per request of `redis-benchmark -t set,get -n 100000 -r 50000 -c 10 -P 16 -d 64`
# (200,000 requests). Rounds of one build differ by about 0.1% (the random keys). Another load:
# AB_LOAD="redis-benchmark's arguments" AB_REQUESTS=the number of requests they send.
set -euo pipefail
LOAD=${AB_LOAD:-"-t set,get -n 100000 -r 50000 -c 10 -P 16 -d 64"}
REQUESTS=${AB_REQUESTS:-200000}
ROUNDS=$1
shift
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
  for B in "$@"; do
    PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" "$B" --port "$PORT" \
      --maxmemory 256mb --threads 1 >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 300); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    # shellcheck disable=SC2086 # LOAD is a list of arguments
    redis-benchmark -p "$PORT" -q $LOAD >/dev/null
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    total=$(callgrind_annotate "$OUT/cg.out" 2>/dev/null | grep "PROGRAM TOTALS" | awk '{gsub(",", "", $1); print $1}')
    echo "round $r $B: instructions $total per request $(echo "scale=1; $total / $REQUESTS" | bc)"
  done
done
