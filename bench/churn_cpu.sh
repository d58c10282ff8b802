#!/bin/bash
# A full cache with its keys churning: builds side by side, one fresh server per round,
# alternately, each with --maxmemory 64mb. 2M SETs over 5M keys fill it (not measured), then 3M
# more are measured: the server's CPU (utime+stime ticks from /proc/PID/stat, 1/100 s), the keys
# evicted and held at the end, and used_memory.
#
#   bench/churn_cpu.sh ROUNDS SERVER_A [SERVER_B ...]
set -euo pipefail
R=$1
shift
for r in $(seq "$R"); do
  for b in "$@"; do
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$b" --port "$port" --maxmemory 64mb >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-benchmark -p "$port" -t set -n 2000000 -r 5000000 -P 16 -c 50 -d 64 -q >/dev/null
    a=($(awk '{print $14, $15}' "/proc/$pid/stat"))
    redis-benchmark -p "$port" -t set -n 3000000 -r 5000000 -P 16 -c 50 -d 64 -q >/dev/null
    z=($(awk '{print $14, $15}' "/proc/$pid/stat"))
    ev=$(redis-cli -p "$port" info stats | grep "^evicted_keys:" | tr -d '\r' | cut -d: -f2)
    n=$(redis-cli -p "$port" dbsize)
    um=$(redis-cli -p "$port" info memory | grep "^used_memory:" | tr -d '\r' | cut -d: -f2)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "round $r $b: ticks $((z[0] - a[0] + z[1] - a[1])) evicted $ev keys $n used_memory $um"
  done
done
