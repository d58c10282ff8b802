#!/bin/bash
# Two or more kvcache-server builds under the same redis-benchmark load, alternately, one fresh
# server per round: requests per second and server CPU seconds (utime+stime from /proc/PID/stat)
# per million requests, one line per build and round.
#
#   bench/ab_servers.sh ROUNDS "REDIS-BENCHMARK ARGS" SERVER_A SERVER_B [...]
#   e.g. bench/ab_servers.sh 5 "-t set,get -n 2000000 -r 1000000 -c 50 -P 16 -d 4096" \
#          build/bin/kvcache-server /tmp/build-old/bin/kvcache-server
#
#   or any command redis-benchmark can send, after the options:
#   bench/ab_servers.sh 5 "-n 400000 -r 100000 -P 16 hset row:__rand_int__ f1 v1 f2 v2" A B
#
# A server named redis-server (Debian's, as a reference) runs with persistence off.
# Every server runs with --maxmemory 2gb on a free port. -n in the arguments sets the divisor:
# n requests per test redis-benchmark reports (SET and GET: 2 x n).
set -euo pipefail
ROUNDS=$1
ARGS=$2
shift 2
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
N=$(echo "$ARGS" | sed 's/.*-n \([0-9]*\).*/\1/')
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for B in "$@"; do
    extra=()  # redis-server may be one of them: persistence off
    [ "$(basename "$B")" = redis-server ] && extra=(--save "" --appendonly no)
    "$B" --port "$PORT" --maxmemory 2gb "${extra[@]}" >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    c0=$(cpu "$PID")
    # shellcheck disable=SC2086
    lines=$(redis-benchmark -p "$PORT" -q $ARGS 2>&1 | tr '\r' '\n' | grep "requests per second" |
            sed 's/ requests per second.*//')
    c1=$(cpu "$PID")
    tests=$(echo "$lines" | grep -c .)
    out=$(echo "$lines" | awk -F': ' '{split($1, a, " "); printf "%s: %s ", a[1], $NF}')
    echo "round $r $B: $out CPU s/1M $(echo "scale=3; ($c1 - $c0) / $(getconf CLK_TCK) / ($tests * $N / 1000000)" | bc)"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
  done
done
