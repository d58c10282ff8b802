#!/bin/bash
# What one attached MONITOR costs: kvcache-server and redis-server (persistence off), each fresh
# per run, under the same redis-benchmark load without and with `redis-cli monitor > FILE`
# attached; requests per second, server CPU seconds (utime+stime from /proc/PID/stat) per
# million requests, and how many lines the monitor received.
#
#   bench/monitor_cost.sh ROUNDS [KVCACHE_SERVER]   (default build/bin/kvcache-server)
set -euo pipefail
ROUNDS=$1
KV=${2:-build/bin/kvcache-server}
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
N=500000
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for S in kvcache redis; do
    for M in 0 1; do
      if [ "$S" = kvcache ]; then
        "$KV" --port "$PORT" --maxmemory 2gb >/dev/null 2>&1 &
      else
        redis-server --port "$PORT" --save "" --appendonly no --maxmemory 2gb \
          --maxmemory-policy allkeys-lru >/dev/null 2>&1 &
      fi
      PID=$!
      for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
      : >"$OUT"
      if [ "$M" = 1 ]; then
        redis-cli -p "$PORT" monitor >"$OUT" &
        MP=$!
        # attached once the monitor has its OK
        for _ in $(seq 100); do [ -s "$OUT" ] && break; sleep 0.02; done
      fi
      c0=$(cpu "$PID")
      rates=$(redis-benchmark -p "$PORT" -q -t set,get -n $N -r 1000000 -c 50 -P 16 -d 64 2>&1 |
              tr '\r' '\n' | grep "requests per second" | sed 's/ requests per second.*//' | tr '\n' ' ')
      c1=$(cpu "$PID")
      lines=0
      if [ "$M" = 1 ]; then
        # the monitor has everything once its file stops growing
        prev=-1
        while [ "$(wc -l <"$OUT")" != "$prev" ]; do prev=$(wc -l <"$OUT"); sleep 0.2; done
        kill "$MP"; wait "$MP" 2>/dev/null || true
        lines=$(wc -l <"$OUT")
      fi
      echo "round $r $S monitor=$M: $rates CPU s/1M $(echo "scale=3; ($c1 - $c0) / $(getconf CLK_TCK) / (2 * $N / 1000000)" | bc) monitor lines $lines"
      kill "$PID"
      wait "$PID" 2>/dev/null || true
    done
  done
done
