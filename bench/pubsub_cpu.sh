#!/bin/bash
# PUBLISH side by side: servers, one fresh per round, alternately, each with two subscribers
# (SUBSCRIBE ch and PSUBSCRIBE c*, raw sockets that count the bytes they read, fast enough that
# neither server closes them at its output limit) reading everything, driven by
# `redis-benchmark -n N -c 50 -P 16 publish ch <64-byte message>`. Per server and round: the
# publish rate, the server's CPU seconds (utime+stime from /proc/PID/stat) per million PUBLISHes
# and how many messages each subscriber received (2 x N expected between them).
#
#   bench/pubsub_cpu.sh ROUNDS N SERVER_A [SERVER_B ...]
#   e.g. bench/pubsub_cpu.sh 5 1000000 build/bin/kvcache-server /usr/bin/redis-server
set -euo pipefail
ROUNDS=$1
N=$2
shift 2
MSG=$(printf 'x%.0s' $(seq 64))
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for B in "$@"; do
    PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    extra=()
    case "$(basename "$B")" in redis-server*) extra=(--save "" --appendonly no) ;; esac
    "$B" --port "$PORT" "${extra[@]}" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    out=$(mktemp -d)
    for kind in sub psub; do
      /usr/bin/python3 - "$PORT" "$kind" "$N" >"$out/$kind" <<'PY' &
import socket, sys
port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"SUBSCRIBE ch\r\n" if kind == "sub" else b"PSUBSCRIBE c*\r\n")
# The confirmation, then n frames of 96 bytes (message) or 105 (pmessage) for 64-byte payloads.
want = (31 if kind == "sub" else 33) + n * (96 if kind == "sub" else 105)
got = 0
s.settimeout(120)
try:
    while got < want:
        data = s.recv(1 << 20)
        if not data:
            break
        got += len(data)
except OSError:
    pass
print((got - (31 if kind == "sub" else 33)) // (96 if kind == "sub" else 105))
PY
    done
    while [ "$(redis-cli -p "$PORT" pubsub numsub ch | tail -1)" != 1 ] ||
          [ "$(redis-cli -p "$PORT" pubsub numpat)" != 1 ]; do sleep 0.05; done
    c0=$(cpu $pid)
    rate=$(redis-benchmark -p "$PORT" -n "$N" -c 50 -P 16 -q publish ch "$MSG" | tr '\r' '\n' |
           grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
    wait $(jobs -p | grep -v "^$pid$")  # both subscribers have read everything (or were closed)
    c1=$(cpu $pid)
    got=$(( $(cat "$out/sub") + $(cat "$out/psub") ))
    kill $pid
    wait $pid 2>/dev/null || true
    rm -rf "$out"
    echo "round $r $B: PUBLISH $rate/s, CPU s/1M $(echo "($c1 - $c0) / 100 / ($N / 1000000)" | bc -l | cut -c1-5), messages received $got of $((2 * N))"
  done
done
