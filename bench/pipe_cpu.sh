#!/bin/bash
# Server CPU for long pipelines that arrive over many reads, as `redis-cli --pipe` sends them
# (a bulk load, or a client pipelining thousands of commands): builds side by side, one fresh
# server per round, alternately.
#
#   bench/pipe_cpu.sh ROUNDS SERVER_A [SERVER_B ...]
#   e.g. bench/pipe_cpu.sh 5 build/bin/kvcache-server /tmp/kv-old /usr/bin/redis-server
#
# Per server and round: the CPU seconds (utime+stime from /proc/PID/stat) of loading 1M keys of
# 16 bytes with 64-byte values (SET), then of 3M GETs of random ones among them, all through
# redis-cli --pipe. A server named redis-server runs with persistence off. The RESP files are
# written once to $PIPE_CPU_DIR (/tmp by default).
set -euo pipefail
ROUNDS=$1
shift
DIR=${PIPE_CPU_DIR:-/tmp}
SETS=$DIR/pipe_cpu_set.resp
GETS=$DIR/pipe_cpu_get.resp
if [ ! -s "$SETS" ] || [ ! -s "$GETS" ]; then
  /usr/bin/python3 - "$SETS" "$GETS" <<'EOF'
import random, sys
value = b"v" * 64
with open(sys.argv[1], "wb") as f:
    for i in range(1000000):
        k = b"key:%012d" % i
        f.write(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n" % (k, value))
rng = random.Random(1)
with open(sys.argv[2], "wb") as f:
    for _ in range(3000000):
        f.write(b"*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n" % rng.randrange(1000000))
EOF
fi
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
secs() { echo "scale=2; $1 / $(getconf CLK_TCK)" | bc; }
for r in $(seq "$ROUNDS"); do
  for B in "$@"; do
    extra=()
    [ "$(basename "$B")" = redis-server ] && extra=(--save "" --appendonly no)
    "$B" --port "$PORT" "${extra[@]}" >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    c0=$(cpu "$PID")
    redis-cli -p "$PORT" --pipe <"$SETS" >/dev/null
    c1=$(cpu "$PID")
    redis-cli -p "$PORT" --pipe <"$GETS" >/dev/null
    c2=$(cpu "$PID")
    echo "round $r $B: load 1M SETs $(secs $((c1 - c0))) CPU s; 3M GETs $(secs $((c2 - c1))) CPU s"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    sleep 2  # the freed memory goes back to the host before the next server starts
  done
done
