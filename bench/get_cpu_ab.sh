#!/bin/bash
# GET alone, build against build: each round starts a fresh server per build, loads 1M keys
# with redis-benchmark SETs of D-byte values, then measures 2M random GETs (-P 16, 50 clients):
# requests per second, and the server's CPU seconds per million GETs, all and user time alone
# (from /proc/PID/stat). The load is left out of the CPU figures, so a change to the read path
# is not hidden by the cost of committing fresh memory during the SETs.
#
#   bench/get_cpu_ab.sh ROUNDS D SERVER_A SERVER_B [...]
#   e.g. bench/get_cpu_ab.sh 4 4096 build/bin/kvcache-server /tmp/old/kvcache-server
set -euo pipefail
ROUNDS=$1
D=$2
shift 2
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HZ=$(getconf CLK_TCK)
field() { awk -v f="$2" '{print $f}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for B in "$@"; do
    "$B" --port "$PORT" --maxmemory 8gb >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-benchmark -p "$PORT" -q -t set -n 1000000 -r 1000000 -c 50 -P 16 -d "$D" >/dev/null 2>&1
    u0=$(field "$PID" 14)
    s0=$(field "$PID" 15)
    rate=$(redis-benchmark -p "$PORT" -q -t get -n 2000000 -r 1000000 -c 50 -P 16 -d "$D" 2>&1 |
           tr '\r' '\n' | grep "requests per second" | sed 's/ requests per second.*//')
    u1=$(field "$PID" 14)
    s1=$(field "$PID" 15)
    echo "round $r $B: $rate CPU s/1M $(echo "scale=3; ($u1 + $s1 - $u0 - $s0) / $HZ / 2" | bc) user $(echo "scale=3; ($u1 - $u0) / $HZ / 2" | bc)"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
  done
done
