#!/bin/bash
# Two or more kvcache-server builds under the same redis-benchmark load, alternately, one fresh
# server per round: requests per second and server CPU seconds (utime+stime from /proc/PID/stat)
# per million requests, one line per build and round.
#
#   bench/ab_servers.sh ROUNDS "REDIS-BENCHMARK ARGS" SERVER_A SERVER_B [...]
#   e.g. bench/ab_servers.sh 5 "-t set,get -n 2000000 -r 1000000 -c 50 -P 16 -d 4096" \
#          build/bin/kvcache-server /tmp/build-old/bin/kvcache-server
#
# Every server runs with --maxmemory 2gb on a free port. -n in the arguments sets the divisor
# (SET and GET: 2 x n requests).
set -euo pipefail
ROUNDS=$1
ARGS=$2
shift 2
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
N=$(echo "$ARGS" | sed 's/.*-n \([0-9]*\).*/\1/')
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for B in "$@"; do
    "$B" --port "$PORT" --maxmemory 2gb >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    c0=$(cpu "$PID")
    # shellcheck disable=SC2086
    out=$(redis-benchmark -p "$PORT" $ARGS -q 2>&1 | tr '\r' '\n' |
          grep -E "^(SET|GET):.*requests per second" | sed 's/ requests per second.*//' | tr '\n' ' ')
    c1=$(cpu "$PID")
    echo "round $r $B: $out CPU s/1M $(echo "scale=3; ($c1 - $c0) / $(getconf CLK_TCK) / (2 * $N / 1000000)" | bc)"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
  done
done
